"""The dock's settings: one frozen, typed tree, loaded from one TOML file and checked at start.

Why check everything at start: a dock that runs for weeks must not find a wrong battery
limit or a misspelt key in the middle of a shift. A bad value stops the service with one line
that names the key and says what is allowed; an unknown key is refused too, because a typo
silently falling back to a default is the worst kind of wrong setting.

Every key has a documented default (dock.example.toml at the repository root), so the dock
runs with no file at all. This is the only module that reads the environment: DOCK_CONFIG
names the file when no path is given.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dock.errors import ConfigError

CONFIG_ENV = "DOCK_CONFIG"
DELETE_POLICIES = ("after_verified_copy", "after_central_copy", "never")
# Names a policy once had, with the name that replaced it (the refusal names the new one).
RENAMED_DELETE_POLICIES = MappingProxyType({"after_central_confirmation": "after_central_copy"})


class _Refused(Exception):
    """A value outside what a key allows; the text says what is allowed."""


# -- rules: each takes the TOML value and returns the typed one, or raises _Refused -----------


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def rule(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _Refused(f"must be an integer from {low} to {high}")
        return value

    return rule


def _number(low: float, high: float, *, is_low_open: bool = False) -> Callable[[Any], float]:
    def rule(value: Any) -> float:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        is_above_low = is_number and (value > low if is_low_open else value >= low)
        if not (is_number and is_above_low and value <= high):
            bound = "above" if is_low_open else "from"
            raise _Refused(f"must be a number {bound} {low:g} up to {high:g}")
        return float(value)

    return rule


def _text(pattern: str, allowed: str) -> Callable[[Any], str]:
    compiled = re.compile(pattern)

    def rule(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise _Refused(f"must be {allowed}")
        return value

    return rule


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def rule(value: Any) -> str:
        if value not in choices:
            raise _Refused("must be one of " + ", ".join(f'"{c}"' for c in choices))
        return value

    return rule


def _delete_policy(value: Any) -> str:
    if value in RENAMED_DELETE_POLICIES:
        raise _Refused(f'was renamed: write "{RENAMED_DELETE_POLICIES[value]}"')
    return _one_of(DELETE_POLICIES)(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Refused("must be true or false")
    return value


def _versions(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Refused('must be a list of version strings, e.g. ["1.4.2"]')
    return tuple(value)


_PORT_PATH = re.compile(r"\d+-\d+(\.\d+)*")


def _port_map(value: Any) -> Mapping[str, int]:
    if not isinstance(value, dict):
        raise _Refused('must be a table of USB port path = bay number, e.g. "1-1.2" = 2')
    for port, bay in value.items():
        if not _PORT_PATH.fullmatch(port):
            raise _Refused(f'has "{port}", which is not a USB port path like "1-1.2"')
        if isinstance(bay, bool) or not isinstance(bay, int) or bay < 1:
            raise _Refused(f'maps "{port}" to {bay!r}: a bay number is an integer from 1')
    bays = list(value.values())
    duplicates = sorted({b for b in bays if bays.count(b) > 1})
    if duplicates:
        raise _Refused(f"maps several ports to bay {duplicates[0]}: one port per bay")
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class FixedBay:
    """A bay bound to a fixed serial port and card source, for a dock without udev."""

    port: str  # the recorder's serial port: /dev/ttyACM0, or the pty recorder-sim prints
    card: Path  # an image file, a folder or a block device; relative: from the config's folder

    def __repr__(self) -> str:  # as `dock config check` shows it: the TOML's own words
        return f'{{port = "{self.port}", card = "{self.card}"}}'


def _fixed_bays(value: Any) -> Mapping[int, FixedBay]:
    example = '[bays.fixed.1] port = "/dev/ttyACM0" card = "CARD.img"'
    if not isinstance(value, dict):
        raise _Refused(f"must be tables of bay number, e.g. {example}")
    bays: dict[int, FixedBay] = {}
    for key, binding in value.items():
        if not key.isdigit() or not 1 <= int(key) <= 16:
            raise _Refused(f'has "{key}", which is not a bay number from 1 to 16')
        if not isinstance(binding, dict) or set(binding) != {"port", "card"}:
            raise _Refused(f"[bays.fixed.{key}] must give exactly port and card, e.g. {example}")
        port, card = binding["port"], binding["card"]
        if not isinstance(port, str) or not port.startswith("/dev/"):
            raise _Refused(f'{key}.port must be a serial port path like "/dev/ttyACM0"')
        if not isinstance(card, str) or not card.strip():
            raise _Refused(f"{key}.card must be an image file, a folder or a block device path")
        bays[int(key)] = FixedBay(port, Path(card))
    ports = [b.port for b in bays.values()]
    duplicates = sorted({p for p in ports if ports.count(p) > 1})
    if duplicates:
        raise _Refused(f"binds {duplicates[0]} to several bays: one port per bay")
    return MappingProxyType(bays)


def _setting(default: Any, rule: Callable[[Any], Any]) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda: rule(default), metadata={"rule": rule})
    return field(default=default, metadata={"rule": rule})


# -- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DockSettings:
    dock_id: str = _setting(
        "dock-01", _text(r"[A-Za-z0-9._-]{1,64}", "1-64 letters, digits, . _ -")
    )
    agency: str = _setting("unnamed agency", _text(r"\S.{0,199}", "the agency's name, not empty"))
    # Relative paths are taken from the config file's folder.
    data_dir: Path = _setting("/var/lib/bodycam-dock", _text(r".+", "a folder path"))


@dataclass(frozen=True)
class BaysSettings:
    count: int = _setting(4, _integer(1, 16))
    usb_port_paths: Mapping[str, int] = _setting({}, _port_map)
    fixed: Mapping[int, FixedBay] = _setting({}, _fixed_bays)


@dataclass(frozen=True)
class CheckSettings:
    """Field names match dock.check.CheckLimits: CheckLimits(**asdict(settings.check))."""

    min_battery_pct: int = _setting(80, _integer(0, 100))
    shift_hours: float = _setting(10.0, _number(0, 24, is_low_open=True))
    bitrate_mbps: float = _setting(8.0, _number(0, 200, is_low_open=True))
    max_clock_drift_s: float = _setting(2.0, _number(0, 3600))
    allowed_firmware: tuple[str, ...] = _setting([], _versions)  # empty: any version


@dataclass(frozen=True)
class OffloadSettings:
    delete_policy: str = _setting("after_verified_copy", _delete_policy)
    max_concurrent_bays: int = _setting(2, _integer(1, 16))
    # A recorder's listing is hostile input: bounded in count (so in memory) and in time.
    max_listed_clips: int = _setting(20_000, _integer(1, 1_000_000))
    max_listing_s: float = _setting(300.0, _number(0, 3600, is_low_open=True))
    reserve_bytes: int = _setting(2 * 1024**3, _integer(0, 2**62))
    handover_limit_hours: float = _setting(24.0, _number(0, 24 * 30, is_low_open=True))
    # The recorders' local time, in minutes east of UTC (FAT and clip names keep no zone).
    card_utc_offset_min: int = _setting(480, _integer(-720, 840))


@dataclass(frozen=True)
class LinkSettings:
    timeout_s: float = _setting(1.0, _number(0, 60, is_low_open=True))
    retries: int = _setting(3, _integer(0, 10))


@dataclass(frozen=True)
class MqttSettings:
    host: str = _setting("localhost", _text(r"[A-Za-z0-9.:-]{1,253}", "a host name or address"))
    port: int = _setting(1883, _integer(1, 65535))
    topic_prefix: str = _setting(
        "bodycam-dock", _text(r"[^#+\s]{1,100}", "a topic prefix without spaces, # or +")
    )
    # Off: nothing is published; on with no broker: rows wait in the journal (the backlog).
    enabled: bool = _setting(True, _boolean)
    # TLS and credentials; "" = not used. Relative paths: from the config file's folder.
    tls_ca_file: str = _setting("", _text(r".{0,4096}", 'a file path or ""'))
    tls_cert_file: str = _setting("", _text(r".{0,4096}", 'a file path or ""'))
    tls_key_file: str = _setting("", _text(r".{0,4096}", 'a file path or ""'))
    username: str = _setting("", _text(r"[^\s]{0,200}", 'a user name without spaces or ""'))
    password_file: str = _setting("", _text(r".{0,4096}", 'a file path or ""'))
    keepalive_s: int = _setting(30, _integer(5, 3600))
    session_expiry_s: int = _setting(86400, _integer(0, 2**32 - 1))
    reconnect_min_s: int = _setting(1, _integer(1, 600))
    reconnect_max_s: int = _setting(60, _integer(1, 3600))
    checkpoint_minutes: int = _setting(60, _integer(1, 1440))
    max_inflight: int = _setting(100, _integer(1, 65535))
    status_interval_s: int = _setting(60, _integer(5, 3600))  # retained status, republished


_GPIO_PIN = (0, 27)  # BCM numbering on a Raspberry Pi's 40-pin header


def _pin(value: Any, where: str) -> int:
    low, high = _GPIO_PIN
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Refused(f"{where} {value!r} is not a GPIO (BCM) pin from {low} to {high}")
    return value


def _light_pins(value: Any, where: str = "the light") -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) not in (0, 2, 3):
        raise _Refused(f"{where} must be [red, green] or [red, green, blue] GPIO pins, or []")
    return tuple(_pin(v, where) for v in value)


def _bay_table(what: str, rule: Callable[[Any, str], Any]) -> Callable[[Any], Mapping[int, Any]]:
    def table(value: Any) -> Mapping[int, Any]:
        if not isinstance(value, dict):
            raise _Refused(f'must be a table of bay number = {what}, e.g. "1" = ...')
        found: dict[int, Any] = {}
        for key, item in value.items():
            if not key.isdigit() or not 1 <= int(key) <= 16:
                raise _Refused(f'has "{key}", which is not a bay number from 1 to 16')
            found[int(key)] = rule(item, f"bay {key}'s {what}")
        return MappingProxyType(found)

    return table


@dataclass(frozen=True)
class LightsSettings:
    """The bay panel's GPIO pins (BCM numbers); with none given the dock runs without lights."""

    bay_pins: Mapping[int, tuple[int, ...]] = _setting({}, _bay_table("light", _light_pins))
    dock_pins: tuple[int, ...] = _setting([], _light_pins)  # the service health light
    bay_buttons: Mapping[int, int] = _setting({}, _bay_table("button", _pin))
    technician_button: int = _setting(-1, _integer(-1, _GPIO_PIN[1]))  # -1: none
    long_press_s: float = _setting(2.0, _number(0, 30, is_low_open=True))


@dataclass(frozen=True)
class InterruptionSettings:
    """How a shift's holes are found and what a spoken note must hold."""

    # Adjacent segments should touch (GA/T 947); a longer hole with no event is an interruption.
    gap_tolerance_s: float = _setting(2.0, _number(0, 3600))
    note_min_duration_s: float = _setting(2.0, _number(0, 600))
    note_min_voiced_s: float = _setting(0.5, _number(0, 600))
    note_voiced_dbfs: float = _setting(-40.0, _number(-120, 0))
    note_max_s: float = _setting(60.0, _number(1, 600))
    # What records a note at the bay: "alsa" (arecord, sound only) or "camera" (picamera2:
    # video with sound, so the note also shows who spoke).
    note_source: str = _setting("alsa", _one_of(("alsa", "camera")))
    alsa_device: str = _setting("default", _text(r"[A-Za-z0-9:,=_.-]{1,64}", "an ALSA device name"))
    # An interruption unexplained longer than this is an alert in the journal.
    unexplained_alert_hours: float = _setting(72.0, _number(0, 24 * 365, is_low_open=True))
    # How often the service looks for overdue ones whose recorder has not docked since.
    overdue_sweep_minutes: float = _setting(10.0, _number(0, 24 * 60, is_low_open=True))


@dataclass(frozen=True)
class CentralSettings:
    """The agency's S3 object store with object lock; "" endpoint_url: no replication."""

    endpoint_url: str = _setting("", _text(r"(https?://\S{1,500})?", '"" or an http(s):// URL'))
    bucket: str = _setting("evidence", _text(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "a bucket name"))
    region: str = _setting("us-east-1", _text(r"[A-Za-z0-9-]{1,64}", "a region name"))
    access_key_id: str = _setting("", _text(r"\S{0,256}", "an access key id, no spaces"))
    # The secret lives in its own file (0600), never in this TOML.
    secret_access_key_file: str = _setting("", _text(r".{0,1000}", "a file path"))
    # PEM bundle of the CA that signed the store's TLS certificate; "" = the system's CAs.
    ca_bundle: str = _setting("", _text(r".{0,1000}", "a file path"))
    retention_days: int = _setting(1095, _integer(1, 36500))
    # Share of the offload's throughput replication may use while an offload runs.
    bandwidth_share: float = _setting(0.5, _number(0, 1, is_low_open=True))
    backlog_alert: int = _setting(1000, _integer(1, 10_000_000))
    part_size_mib: int = _setting(8, _integer(5, 5120))  # boto3 upload_file's part size


@dataclass(frozen=True)
class FixitySettings:
    """`dock store verify`: each run re-hashes 1/(period_days*runs_per_day) of the store."""

    period_days: int = _setting(30, _integer(1, 3650))
    runs_per_day: int = _setting(1, _integer(1, 96))
    # Central objects downloaded and re-hashed per run, oldest central check first.
    central_sample: int = _setting(10, _integer(0, 100_000))


def _day_table(value: Any) -> Mapping[str, int]:
    if not isinstance(value, dict):
        raise _Refused('must be a table of category = days, e.g. "现场执法" = 365')
    for name, days in value.items():
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500:
            raise _Refused(f"{name!r} = {days!r}: a period is an integer from 1 to 36500 days")
    return MappingProxyType(dict(value))


def _names(value: Any) -> tuple[str, ...]:
    is_names = isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
    if not is_names or not value:
        raise _Refused('must be a non-empty list of names, e.g. ["leader"]')
    return tuple(value)


@dataclass(frozen=True)
class RetentionSettings:
    """How long footage lives, who approves a purge, sampling audits."""

    # Footage not linked to a case (002: 6 months; 003: at least 1 year; 000: 3 years).
    default_days: int = _setting(180, _integer(1, 36500))
    # Categories with their own period; when several apply the longest wins.
    category_days: Mapping[str, int] = _setting({}, _day_table)
    # Who reviews and approves a purge or the lifting of a hold: [people] reviewers and
    # approvers, kinds "purge" and "lift_hold", like every other request.
    # A purged object is kept aside this long; `dock purge undo` puts it back until then.
    undo_days: int = _setting(30, _integer(0, 3650))
    # Sampling audits: the share of a period's clips drawn, and what each is scored on.
    sample_share: float = _setting(0.05, _number(0, 1, is_low_open=True))
    checklist: tuple[str, ...] = _setting(
        ["required events recorded", "recording continuous", "hand-over proper", "use proper"],
        _names,
    )


def _role_table(value: Any) -> Mapping[str, str]:
    from dock.people.roles import ROLE_NAMES

    kinds = ("view", "copy", "export", "purge", "lift_hold")
    if not isinstance(value, dict) or set(value) - set(kinds):
        raise _Refused(
            'must be a table of view, copy, export, purge, lift_hold = a role, e.g. view = "leader"'
        )
    for kind, role in value.items():
        if role not in ROLE_NAMES:
            raise _Refused(f"{kind} = {role!r}: the roles are {', '.join(ROLE_NAMES)}")
    return MappingProxyType({k: value.get(k, "leader") for k in kinds})


def _mark_roles(value: Any) -> Mapping[str, tuple[str, ...]]:
    from dock.people.roles import ROLE_NAMES

    marks = ("state_secret", "commercial_secret", "personal_information")
    if not isinstance(value, dict) or set(value) - set(marks):
        raise _Refused(f"must be a table of {', '.join(marks)} = [roles]")
    for mark, roles in value.items():
        if not isinstance(roles, list) or not all(r in ROLE_NAMES for r in roles):
            raise _Refused(f"{mark} must list roles from {', '.join(ROLE_NAMES)}")
    return MappingProxyType({m: tuple(value.get(m, ["leader"])) for m in marks})


def _time_zone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _Refused('must be an IANA time zone name, e.g. "Asia/Shanghai"') from None
    return str(value)


def _categories(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Refused('must be a list of category names, e.g. ["现场执法", "会议"]')
    return tuple(value)


@dataclass(frozen=True)
class PeopleSettings:
    """Staff sign-in, who reviews and approves each request, the display language."""

    lockout_failures: int = _setting(5, _integer(1, 100))
    lockout_minutes: float = _setting(15.0, _number(0, 24 * 60, is_low_open=True))
    approval_hours: float = _setting(24.0, _number(0, 24 * 365, is_low_open=True))
    reviewers: Mapping[str, str] = _setting(
        {
            "view": "office_director",
            "copy": "legal_reviewer",
            "export": "legal_reviewer",
            "purge": "legal_reviewer",
            "lift_hold": "legal_reviewer",
        },
        _role_table,
    )
    approvers: Mapping[str, str] = _setting(
        {
            "view": "leader",
            "copy": "leader",
            "export": "leader",
            "purge": "leader",
            "lift_hold": "leader",
        },
        _role_table,
    )
    # Roles that may be approved to view a clip carrying each confidentiality mark.
    mark_roles: Mapping[str, tuple[str, ...]] = _setting(
        {
            "state_secret": ["leader"],
            "commercial_secret": ["leader", "office_director", "legal_reviewer"],
            "personal_information": ["leader", "office_director", "legal_reviewer", "custodian"],
        },
        _mark_roles,
    )
    export_confirmations: int = _setting(2, _integer(2, 5))
    two_person_offload: bool = _setting(False, _boolean)  # 003 art.21
    record_categories: tuple[str, ...] = _setting(
        ["现场执法", "调查取证", "会议", "其他"], _categories
    )
    language: str = _setting("zh", _one_of(("zh", "en")))
    time_zone: str = _setting("Asia/Shanghai", _time_zone)


def _listen(value: Any) -> str:
    host, sep, port = str(value).rpartition(":") if isinstance(value, str) else ("", "", "")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _Refused('must be "host:port", e.g. "127.0.0.1:8470"')
    return value


@dataclass(frozen=True)
class WebSettings:
    """The custodians' pages: served on the dock's own network only."""

    enabled: bool = _setting(False, _boolean)  # `dock serve` starts the pages when true
    listen: str = _setting("127.0.0.1:8470", _listen)
    session_minutes: int = _setting(30, _integer(1, 24 * 60))  # idle sign-in lifetime
    tls_cert_file: str = _setting("", _text(r".{0,4096}", 'a file path or ""'))
    tls_key_file: str = _setting("", _text(r".{0,4096}", 'a file path or ""'))


def _public_keys(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Refused(
            "must be a list of Ed25519 public keys, each 64 hex digits or a key file,"
            ' e.g. ["agency-firmware.pub"]'
        )
    return tuple(v.strip() for v in value)


@dataclass(frozen=True)
class FirmwareSettings:
    """Technician reflash: the agency's firmware signing keys (public halves only)."""

    # 64 hex digits, or a file: the 32 raw bytes (README) or a PEM public key. Relative: from
    # the config's folder. The dock stages only images signed by one of them; the
    # development key is refused here (only `dock serve --simulate` trusts it).
    public_keys: tuple[str, ...] = _setting([], _public_keys)


@dataclass(frozen=True)
class Settings:
    dock: DockSettings = field(default_factory=DockSettings)
    bays: BaysSettings = field(default_factory=BaysSettings)
    check: CheckSettings = field(default_factory=CheckSettings)
    offload: OffloadSettings = field(default_factory=OffloadSettings)
    link: LinkSettings = field(default_factory=LinkSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    interruptions: InterruptionSettings = field(default_factory=InterruptionSettings)
    lights: LightsSettings = field(default_factory=LightsSettings)
    central: CentralSettings = field(default_factory=CentralSettings)
    fixity: FixitySettings = field(default_factory=FixitySettings)
    people: PeopleSettings = field(default_factory=PeopleSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    web: WebSettings = field(default_factory=WebSettings)
    firmware: FirmwareSettings = field(default_factory=FirmwareSettings)
    source: Path | None = None  # the file these came from; None: built-in defaults

    @property
    def database_path(self) -> Path:
        return self.dock.data_dir / "dock.sqlite3"


_SECTIONS: dict[str, type[Any]] = {
    "dock": DockSettings,
    "bays": BaysSettings,
    "check": CheckSettings,
    "offload": OffloadSettings,
    "link": LinkSettings,
    "mqtt": MqttSettings,
    "interruptions": InterruptionSettings,
    "lights": LightsSettings,
    "central": CentralSettings,
    "fixity": FixitySettings,
    "people": PeopleSettings,
    "retention": RetentionSettings,
    "web": WebSettings,
    "firmware": FirmwareSettings,
}


# -- loading ----------------------------------------------------------------------------------


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The settings from `path`, else from $DOCK_CONFIG, else the built-in defaults."""
    env = os.environ if env is None else env
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    if path is None:
        return parse_settings({}, base_dir=Path.cwd(), source=None)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config: {path} does not exist: create it from dock.example.toml"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config: cannot read {path}: {error}") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config: {path} is not valid TOML: {error}") from None
    return parse_settings(table, base_dir=path.resolve().parent, source=path)


def parse_settings(table: Mapping[str, Any], base_dir: Path, source: Path | None) -> Settings:
    """Settings from an already-parsed TOML table; raises ConfigError on the first bad key."""
    _refuse_unknown(table, _SECTIONS, prefix="")
    built: dict[str, Any] = {}
    for name, factory in _SECTIONS.items():
        section = table.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"config: {name} = {_show(section)}: must be a table [{name}]")
        built[name] = _build(factory, section, name)
    settings = Settings(**built, source=source)
    return _cross_checked(settings, base_dir)


def _refuse_unknown(table: Mapping[str, Any], known: Mapping[str, Any], prefix: str) -> None:
    unknown = [key for key in table if key not in known]
    if unknown:
        names = ", ".join(prefix + key for key in unknown)
        allowed = ", ".join(prefix + key for key in known)
        raise ConfigError(f"config: unknown key {names}: allowed here are {allowed}")


def _build(cls: type, section: Mapping[str, Any], name: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    _refuse_unknown(section, known, prefix=f"{name}.")
    values = {}
    for key, value in section.items():
        try:
            values[key] = known[key].metadata["rule"](value)
        except _Refused as refusal:
            raise ConfigError(f"config: {name}.{key} = {_show(value)}: {refusal}") from None
    return cls(**values)


def _cross_checked(settings: Settings, base_dir: Path) -> Settings:
    from dataclasses import replace

    for port, bay in settings.bays.usb_port_paths.items():
        if bay > settings.bays.count:
            raise ConfigError(
                f'config: bays.usb_port_paths."{port}" = {bay}: must be a bay number '
                f"from 1 to bays.count ({settings.bays.count})"
            )
    fixed = {}
    for bay, binding in settings.bays.fixed.items():
        if bay > settings.bays.count or bay in settings.bays.usb_port_paths.values():
            raise ConfigError(
                f"config: bays.fixed.{bay}: must be a bay from 1 to bays.count "
                f"({settings.bays.count}) that bays.usb_port_paths does not also name"
            )
        card = binding.card.expanduser()
        fixed[bay] = replace(binding, card=card if card.is_absolute() else base_dir / card)
    data_dir = Path(settings.dock.data_dir).expanduser()
    if not data_dir.is_absolute():
        data_dir = base_dir / data_dir
    return replace(
        settings,
        dock=replace(settings.dock, data_dir=data_dir),
        bays=replace(settings.bays, fixed=MappingProxyType(fixed)),
        mqtt=_files_from(
            base_dir, settings.mqtt, "tls_ca_file", "tls_cert_file", "tls_key_file", "password_file"
        ),
        central=_files_from(base_dir, settings.central, "secret_access_key_file", "ca_bundle"),
        web=_files_from(base_dir, settings.web, "tls_cert_file", "tls_key_file"),
        firmware=replace(
            settings.firmware,
            public_keys=tuple(_public_key_hex(k, base_dir) for k in settings.firmware.public_keys),
        ),
    )


def _public_key_hex(given: str, base_dir: Path) -> str:
    """A configured key as 64 hex digits, read from its file if it names one."""
    from dock.reflash.staging import KeyFileError, public_key_from
    from firmware_bridge.image import dev_public_key

    where = f"config: firmware.public_keys has {_show(given)}"
    if re.fullmatch(r"[0-9A-Fa-f]{64}", given):
        key = bytes.fromhex(given)
    else:
        path = Path(given).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            key = public_key_from(path.read_bytes())
        except OSError as error:
            raise ConfigError(
                f"{where}: cannot read {path} ({error.strerror}): give the agency's public key"
                " file or its 64 hex digits"
            ) from None
        except KeyFileError as error:
            raise ConfigError(f"{where}: {error}") from None
    if key == dev_public_key():
        raise ConfigError(
            f"{where}: that is the development key, which no real recorder trusts: give the"
            " agency's own key (only `dock serve --simulate` trusts the development key)"
        )
    return key.hex()


def _files_from(base_dir: Path, section: Any, *keys: str) -> Any:
    """The section with each relative file path among `keys` read from the config's folder."""
    from dataclasses import replace

    files = {}
    for key in keys:
        value = getattr(section, key)
        if value and not Path(value).expanduser().is_absolute():
            files[key] = str(base_dir / Path(value).expanduser())
    return replace(section, **files)


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def settings_as_table(settings: Settings) -> dict[str, dict[str, Any]]:
    """The effective settings as plain values, section by section, for display."""
    table: dict[str, dict[str, Any]] = {}
    for name in _SECTIONS:
        section = getattr(settings, name)
        table[name] = {}
        for f in fields(section):
            value = getattr(section, f.name)
            if isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Path):
                value = str(value)
            table[name][f.name] = value
    return table


def _defaults_are_valid() -> None:
    """Every default must pass its own rule; a wrong default is a bug caught at import."""
    for factory in _SECTIONS.values():
        section = factory()
        for f in fields(section):
            value = getattr(section, f.name)
            if not isinstance(value, tuple | Mapping):  # those were built by their rule
                f.metadata["rule"](value)


_defaults_are_valid()
