"""The dock's settings: defaults, the example file, and one-line refusals naming the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dock.check import CheckLimits
from dock.config import (
    load_settings,
    parse_settings,
    settings_as_table,
)
from dock.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "dock.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dock.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_dock_runs_with_no_file_at_all_on_documented_defaults():
    settings = load_settings(env={})
    assert settings.source is None
    assert settings.check.min_battery_pct == 80
    assert settings.check.shift_hours == 10
    assert settings.check.bitrate_mbps == 8
    assert settings.check.max_clock_drift_s == 2
    assert settings.offload.delete_policy == "after_verified_copy"
    assert settings.offload.max_concurrent_bays == 2
    assert settings.offload.handover_limit_hours == 24
    assert settings.database_path == Path("/var/lib/bodycam-dock/dock.sqlite3")


def test_example_file_states_exactly_the_defaults():
    from_example = load_settings(EXAMPLE, env={})
    defaults = parse_settings({}, base_dir=EXAMPLE.parent, source=None)
    assert settings_as_table(from_example) == settings_as_table(defaults)


def test_example_file_documents_every_key():
    text = EXAMPLE.read_text(encoding="utf-8")
    for section, values in settings_as_table(load_settings(env={})).items():
        assert f"[{section}]" in text
        for key in values:
            assert f"\n{key} = " in text or f"[{section}.{key}]" in text, f"{section}.{key}"


def test_config_path_comes_from_dock_config_when_none_is_given(tmp_path):
    path = write(tmp_path, "[check]\nmin_battery_pct = 55\n")
    settings = load_settings(env={"DOCK_CONFIG": str(path)})
    assert settings.check.min_battery_pct == 55
    assert settings.source == path


def test_relative_data_dir_is_taken_from_the_config_files_folder(tmp_path):
    path = write(tmp_path, '[dock]\ndata_dir = "state"\n')
    assert load_settings(path, env={}).dock.data_dir == tmp_path / "state"


def test_relative_central_files_are_taken_from_the_config_files_folder(tmp_path):
    path = write(
        tmp_path, '[central]\nsecret_access_key_file = "s3/secret"\nca_bundle = "s3/ca.pem"\n'
    )
    central = load_settings(path, env={}).central
    assert central.secret_access_key_file == str(tmp_path / "s3" / "secret")
    assert central.ca_bundle == str(tmp_path / "s3" / "ca.pem")


def test_settings_are_frozen():
    settings = load_settings(env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.check.min_battery_pct = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.bays.usb_port_paths["1-1.9"] = 9  # type: ignore[index]


def test_check_settings_feed_the_pre_shift_check_limits():
    check = parse_settings(
        {"check": {"allowed_firmware": ["1.4.2"]}}, base_dir=Path("."), source=None
    ).check
    limits = CheckLimits(**dataclasses.asdict(check))
    assert limits.allowed_firmware == ("1.4.2",)
    assert limits.shift_storage_bytes() == 36_000_000_000


def test_usb_port_paths_map_ports_to_bays(tmp_path):
    path = write(tmp_path, '[bays]\ncount = 2\n[bays.usb_port_paths]\n"1-1.2" = 2\n"1-1.3" = 1\n')
    assert dict(load_settings(path, env={}).bays.usb_port_paths) == {"1-1.2": 2, "1-1.3": 1}


REFUSED = [
    (
        "[check]\nmin_battery_pct = 140",
        "config: check.min_battery_pct = 140: must be an integer from 0 to 100",
    ),
    (
        "[check]\nmin_battery_pct = 80.5",
        "config: check.min_battery_pct = 80.5: must be an integer from 0 to 100",
    ),
    (
        "[check]\nmin_battery_pct = true",
        "config: check.min_battery_pct = true: must be an integer from 0 to 100",
    ),
    (
        "[check]\nshift_hours = 0",
        "config: check.shift_hours = 0: must be a number above 0 up to 24",
    ),
    (
        '[check]\nbitrate_mbps = "8"',
        'config: check.bitrate_mbps = "8": must be a number above 0 up to 200',
    ),
    (
        "[check]\nmax_clock_drift_s = -1",
        "config: check.max_clock_drift_s = -1: must be a number from 0 up to 3600",
    ),
    (
        '[check]\nallowed_firmware = "1.4"',
        'config: check.allowed_firmware = "1.4": must be a list of version strings, e.g. ["1.4.2"]',
    ),
    (
        '[offload]\ndelete_policy = "sometimes"',
        'config: offload.delete_policy = "sometimes": must be one of "after_verified_copy", '
        '"after_central_copy", "never"',
    ),
    (
        '[offload]\ndelete_policy = "after_central_confirmation"',
        'config: offload.delete_policy = "after_central_confirmation": was renamed: '
        'write "after_central_copy"',
    ),
    (
        "[offload]\nmax_concurrent_bays = 0",
        "config: offload.max_concurrent_bays = 0: must be an integer from 1 to 16",
    ),
    (
        "[offload]\nreserve_bytes = -5",
        "config: offload.reserve_bytes = -5: must be an integer from 0 to 4611686018427387904",
    ),
    ("[link]\nretries = 11", "config: link.retries = 11: must be an integer from 0 to 10"),
    ("[mqtt]\nport = 70000", "config: mqtt.port = 70000: must be an integer from 1 to 65535"),
    (
        '[mqtt]\ntopic_prefix = "a/#"',
        'config: mqtt.topic_prefix = "a/#": must be a topic prefix without spaces, # or +',
    ),
    (
        '[dock]\ndock_id = "dock 1"',
        'config: dock.dock_id = "dock 1": must be 1-64 letters, digits, . _ -',
    ),
    ("[bays]\ncount = 0", "config: bays.count = 0: must be an integer from 1 to 16"),
    (
        '[bays.usb_port_paths]\n"usb2" = 1',
        'config: bays.usb_port_paths = {"usb2": 1}: has "usb2", which is not a USB port path '
        'like "1-1.2"',
    ),
    (
        '[bays.usb_port_paths]\n"1-1.2" = 1\n"1-1.3" = 1',
        'config: bays.usb_port_paths = {"1-1.2": 1, "1-1.3": 1}: maps several ports to bay 1: '
        "one port per bay",
    ),
    (
        '[bays]\ncount = 2\n[bays.usb_port_paths]\n"1-1.3" = 3',
        'config: bays.usb_port_paths."1-1.3" = 3: must be a bay number from 1 to bays.count (2)',
    ),
    ("check = 3", "config: check = 3: must be a table [check]"),
    (
        "[check]\nmin_batery_pct = 50",
        "config: unknown key check.min_batery_pct: allowed here are check.min_battery_pct, "
        "check.shift_hours, check.bitrate_mbps, check.max_clock_drift_s, check.allowed_firmware",
    ),
    (
        "[speakers]\nbrightness = 3",
        "config: unknown key speakers: allowed here are dock, bays, check, offload, link, "
        "mqtt, interruptions, lights, central, fixity, people, retention, web, firmware",
    ),
]


@pytest.mark.parametrize(("text", "message"), REFUSED, ids=[m.split(":")[1] for _, m in REFUSED])
def test_wrong_value_or_unknown_key_is_refused_with_one_line_naming_it(tmp_path, text, message):
    with pytest.raises(ConfigError) as refused:
        load_settings(write(tmp_path, text), env={})
    assert str(refused.value) == message
    assert "\n" not in str(refused.value)


def test_file_that_is_not_toml_is_refused_in_one_line(tmp_path):
    path = write(tmp_path, "[check\nmin_battery_pct = 1\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(path, env={})
    assert str(refused.value).startswith(f"config: {path} is not valid TOML: ")
    assert "\n" not in str(refused.value)


def test_missing_file_is_refused_and_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="does not exist: create it from dock.example.toml"):
        load_settings(tmp_path / "nope.toml", env={})
