"""The registry's own settings file (registry.example.toml documents every key).

A wrong value stops the registry with one line naming the key; secrets are read from files
named here, never written in the TOML.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dock.errors import DockError


class RegistryConfigError(DockError):
    pass


@dataclass(frozen=True)
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 8883
    tls: bool = True
    ca_file: str = ""
    username: str = "registry"
    password_file: str = ""
    client_id: str = "registry-1"
    share_group: str = "registry"
    session_expiry_s: int = 86_400
    topic_prefix: str = "bodycam-dock"


@dataclass(frozen=True)
class RegistrySettings:
    database_url: str = "sqlite:///registry.db"
    max_payload_bytes: int = 64 * 1024
    stale_gap_minutes: int = 30
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    dock_keys: dict[str, str] = field(default_factory=dict)  # dock id -> hex Ed25519 key


def _typed(section: dict[str, Any], name: str, default: Any, where: str) -> Any:
    value = section.get(name, default)
    if type(value) is not type(default):
        raise RegistryConfigError(
            f"{where}{name} must be a {type(default).__name__}, not {value!r}; fix the config"
        )
    return value


def parse_registry_settings(raw: dict[str, Any]) -> RegistrySettings:
    known = {"database_url", "max_payload_bytes", "stale_gap_minutes", "broker", "dock_keys"}
    for key in raw:
        if key not in known:
            raise RegistryConfigError(f"unknown key {key!r} in the registry config; remove it")
    base = RegistrySettings()
    broker_raw = raw.get("broker", {})
    broker = BrokerSettings(
        **{
            name: _typed(broker_raw, name, getattr(BrokerSettings(), name), "broker.")
            for name in BrokerSettings.__dataclass_fields__
        }
    )
    for key in broker_raw:
        if key not in BrokerSettings.__dataclass_fields__:
            raise RegistryConfigError(f"unknown key broker.{key!r} in the registry config")
    keys = raw.get("dock_keys", {})
    for dock_id, key_hex in keys.items():
        if not (isinstance(key_hex, str) and len(key_hex) == 64):
            raise RegistryConfigError(
                f"dock_keys.{dock_id} must be 64 hex digits (`dock report key` prints it)"
            )
        try:
            bytes.fromhex(key_hex)
        except ValueError:
            raise RegistryConfigError(f"dock_keys.{dock_id} is not hex") from None
    return RegistrySettings(
        database_url=_typed(raw, "database_url", base.database_url, ""),
        max_payload_bytes=_typed(raw, "max_payload_bytes", base.max_payload_bytes, ""),
        stale_gap_minutes=_typed(raw, "stale_gap_minutes", base.stale_gap_minutes, ""),
        broker=broker,
        dock_keys=dict(keys),
    )


def load_registry_settings(path: Path) -> RegistrySettings:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RegistryConfigError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise RegistryConfigError(f"{path} is not valid TOML: {error}") from None
    return parse_registry_settings(raw)
