"""The reporting wire: golden documents pass both ends' schema; hostile ones are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dock.bays.states import BayState
from dock.journal import GENESIS_HASH, JournalEntry, canonical_json, row_hash
from dock.lights import BayLight, pattern_for
from firmware_bridge import reporting
from firmware_bridge.reporting import ReportRejected, TopicParts
from hw import gpio

P = "bodycam-dock"
AT = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)


def _entry(id_: int = 1, type_: str = "bay.state_changed") -> JournalEntry:
    data = {"from": "empty", "to": "identifying", "reason": "插入"}
    h = row_hash(id_, AT, type_, "dock", 2, "ZFY00001", canonical_json(data), GENESIS_HASH)
    return JournalEntry(id_, AT, type_, "dock", 2, "ZFY00001", data, GENESIS_HASH, h)


def _status() -> dict[str, object]:
    return {
        "schema": 1,
        "kind": "status",
        "dock": "dock-01",
        "at": reporting.iso_utc(AT),
        "journal_size": 3,
        "head_hash": "a" * 64,
        "bays": [1, 2],
        "backlog": 0,
        "disk_free_bytes": 10**9,
        "version": "0.1",
    }


def _bay_state() -> dict[str, object]:
    return {
        "schema": 1,
        "kind": "bay_state",
        "dock": "dock-01",
        "bay": 2,
        "at": reporting.iso_utc(AT),
        "state": "ready",
        "device": "ZFY00001",
        "reason": None,
        "light": "green",
    }


def test_topics_built_by_the_dock_parse_back_to_their_parts() -> None:
    assert reporting.parse_topic(P, reporting.availability_topic(P, "d1")) == TopicParts(
        "d1", "availability"
    )
    assert reporting.parse_topic(P, reporting.status_topic(P, "d1")) == TopicParts("d1", "status")
    assert reporting.parse_topic(P, reporting.bay_state_topic(P, "d1", 3)) == TopicParts(
        "d1", "bay_state", bay=3
    )
    assert reporting.parse_topic(P, reporting.journal_topic(P, "d1", "clip.stored")) == (
        TopicParts("d1", "journal_row", row_type="clip.stored")
    )


@pytest.mark.parametrize(
    "topic",
    [
        "other/d1/status",
        f"{P}/d1",
        f"{P}/d1/bays/0/state",
        f"{P}/d1/bays/02/state",
        f"{P}/d1/journal",
        f"{P}/d1/status/x",
        f"{P}//status",
    ],
)
def test_a_topic_outside_the_tree_is_rejected(topic: str) -> None:
    with pytest.raises(ReportRejected):
        reporting.parse_topic(P, topic)


def test_a_dock_id_with_a_wildcard_cannot_become_a_topic() -> None:
    with pytest.raises(ReportRejected):
        reporting.status_topic(P, "d1/#")


def test_a_journal_row_message_validates_and_carries_what_the_hash_needs() -> None:
    entry = _entry()
    topic = reporting.journal_topic(P, "dock-01", entry.type)
    doc = reporting.decode(topic, reporting.encode(reporting.row_message("dock-01", entry)), P)
    row = doc["row"]
    recomputed = row_hash(
        row["id"],
        datetime.fromisoformat(row["at_utc"]),
        row["type"],
        row["actor"],
        row["bay"],
        row["device"],
        canonical_json(row["data"]),
        row["prev_hash"],
    )
    assert recomputed == entry.hash == row["hash"]


def test_golden_status_bay_state_and_availability_validate() -> None:
    assert (
        reporting.decode(reporting.status_topic(P, "dock-01"), reporting.encode(_status()), P)[
            "journal_size"
        ]
        == 3
    )
    bay = reporting.decode(
        reporting.bay_state_topic(P, "dock-01", 2), reporting.encode(_bay_state()), P
    )
    assert bay["state"] == "ready"
    for value in ("online", "offline", "stopped"):
        got = reporting.decode(reporting.availability_topic(P, "dock-01"), value.encode(), P)
        assert got == {"kind": "availability", "dock": "dock-01", "availability": value}


def _bad_status(**changes: object) -> bytes:
    doc = _status()
    doc.update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1,2]",
        _bad_status(schema=2),
        _bad_status(kind="bay_state"),
        _bad_status(dock="dock-02"),
        _bad_status(journal_size=-1),
        _bad_status(extra="field"),
        _bad_status(head_hash="zz"),
        b"[" * 100_000,
        b" " * (64 * 1024 + 1),
    ],
    ids=[
        "malformed",
        "not-utf8",
        "array",
        "schema-2",
        "wrong-kind",
        "other-dock",
        "negative",
        "extra-field",
        "bad-hash",
        "deep-nesting",
        "too-large",
    ],
)
def test_a_hostile_status_payload_is_rejected_with_a_reason(payload: bytes) -> None:
    with pytest.raises(ReportRejected) as refused:
        reporting.decode(reporting.status_topic(P, "dock-01"), payload, P)
    assert refused.value.reason and "\n" not in refused.value.reason


def test_a_row_published_under_another_type_or_bay_is_rejected() -> None:
    message = reporting.encode(reporting.row_message("dock-01", _entry()))
    with pytest.raises(ReportRejected):
        reporting.decode(reporting.journal_topic(P, "dock-01", "clip.stored"), message, P)
    with pytest.raises(ReportRejected):
        reporting.decode(
            reporting.bay_state_topic(P, "dock-01", 3), reporting.encode(_bay_state()), P
        )
    with pytest.raises(ReportRejected):
        reporting.decode(reporting.availability_topic(P, "dock-01"), b"maybe", P)


def test_checkpoint_bytes_change_with_every_signed_field() -> None:
    base = ("dock-01", 10, 10, "a" * 64, "2026-12-01T08:00:00.000000+00:00")
    variants = {
        reporting.checkpoint_bytes(*base),
        reporting.checkpoint_bytes("dock-02", *base[1:]),
        reporting.checkpoint_bytes(base[0], 11, *base[2:]),
        reporting.checkpoint_bytes(*base[:2], 9, *base[3:]),
        reporting.checkpoint_bytes(*base[:3], "b" * 64, base[4]),
        reporting.checkpoint_bytes(*base[:4], "2026-12-01T08:00:01.000000+00:00"),
    }
    assert len(variants) == 6


def test_every_bay_light_pattern_has_the_colour_it_shows_first_on_the_wire():
    patterns = {pattern_for(BayLight(state=state)) for state in BayState}
    patterns |= {gpio.offloading(q) for q in range(1, 5)}
    patterns |= {gpio.NOTE_NEEDED, gpio.NOTE_RECORDING, gpio.REFLASHING}
    for pattern in patterns:
        assert reporting.light_colour(pattern.name) == pattern.steps[0][0].value, pattern.name
    assert reporting.light_colour("a_light_from_a_newer_dock") == ""
