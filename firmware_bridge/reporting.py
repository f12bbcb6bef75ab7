"""The reporting wire: MQTT topics and JSON payloads a dock publishes and the registry reads.

Declared once here (and in REPORTING.md, reporting.schema.json) so both ends build and check
the same bytes. Pure: no I/O besides loading the schema, no clock. The registry treats every
payload as hostile, so `decode` refuses anything that is not exactly a schema-1 document whose
dock id matches its topic, with a ReportRejected naming why (one line, no payload echoed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the dock's JournalEntry; the registry need not import the dock at run time
    from dock.journal import JournalEntry

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 64 * 1024
AVAILABILITY_VALUES = ("online", "offline", "stopped")
CHECKPOINT_TYPE = "journal.checkpoint"
# What colour each bay light pattern shows first (REPORTING.md, `bay_state.light`), so a page
# far from the dock draws the light as the officer sees it; offloading_N_of_4 is green.
LIGHT_COLOURS = {
    "off": "off",
    "working": "green",
    "ready": "green",
    "attention": "amber",
    "note_needed": "amber",
    "note_recording": "amber",
    "fault": "red",
    "reflashing": "red",
    "awaiting_two_staff": "amber",
    "technician_awaited": "red",
    "technician_mode": "red",
}


def light_colour(light: str | None) -> str:
    """The colour a reported light name stands for; "" for one this version does not know."""
    if light and light.startswith("offloading_"):
        return "green"
    return LIGHT_COLOURS.get(light or "", "")


_SCHEMA_PATH = Path(__file__).with_name("reporting.schema.json")
_FORBIDDEN_IN_LEVEL = set("/#+\x00")


class ReportRejected(ValueError):
    """A topic or payload the registry must refuse; `reason` is one line, safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TopicParts:
    dock: str
    kind: str  # "availability" | "status" | "bay_state" | "journal_row"
    bay: int | None = None
    row_type: str | None = None


def _level(value: str, what: str) -> str:
    if not value or _FORBIDDEN_IN_LEVEL & set(value):
        raise ReportRejected(f"{what} {value!r} cannot be an MQTT topic level")
    return value


def availability_topic(prefix: str, dock: str) -> str:
    return f"{prefix}/{_level(dock, 'dock id')}/availability"


def status_topic(prefix: str, dock: str) -> str:
    return f"{prefix}/{_level(dock, 'dock id')}/status"


def bay_state_topic(prefix: str, dock: str, bay: int) -> str:
    return f"{prefix}/{_level(dock, 'dock id')}/bays/{int(bay)}/state"


def journal_topic(prefix: str, dock: str, row_type: str) -> str:
    return f"{prefix}/{_level(dock, 'dock id')}/journal/{_level(row_type, 'row type')}"


def subscription(prefix: str) -> str:
    """What the registry subscribes to: every dock's topics."""
    return f"{prefix}/+/#"


def parse_topic(prefix: str, topic: str) -> TopicParts:
    """Split a topic into its parts; anything outside the tree raises ReportRejected."""
    head = prefix + "/"
    if not topic.startswith(head):
        raise ReportRejected(f"topic {topic[:200]!r} is not under {prefix!r}")
    levels = topic[len(head) :].split("/")
    if len(levels) < 2 or not levels[0]:
        raise ReportRejected(f"topic {topic[:200]!r} names no dock and kind")
    dock, rest = levels[0], levels[1:]
    if rest == ["availability"]:
        return TopicParts(dock, "availability")
    if rest == ["status"]:
        return TopicParts(dock, "status")
    if len(rest) == 3 and rest[0] == "bays" and rest[2] == "state" and rest[1].isdigit():
        bay = int(rest[1])
        if 1 <= bay <= 16 and str(bay) == rest[1]:
            return TopicParts(dock, "bay_state", bay=bay)
    if len(rest) == 2 and rest[0] == "journal" and rest[1]:
        return TopicParts(dock, "journal_row", row_type=rest[1])
    raise ReportRejected(f"topic {topic[:200]!r} is not one of the reporting topics")


def encode(doc: dict[str, Any]) -> bytes:
    """Canonical UTF-8 JSON (sorted keys, no spaces): the same document, the same bytes."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@cache
def _validators() -> dict[str, Any]:
    import jsonschema

    schema = json.loads(_SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return {
        kind: cls({"$ref": f"#/$defs/{kind}", "$defs": schema["$defs"]})
        for kind in ("status", "bay_state", "journal_row")
    }


def decode(
    topic: str, payload: bytes, prefix: str, max_bytes: int = MAX_PAYLOAD_BYTES
) -> dict[str, Any]:
    """Check a received message; availability decodes to {"kind", "dock", "availability"}."""
    parts = parse_topic(prefix, topic)
    if len(payload) > max_bytes:
        raise ReportRejected(f"payload of {len(payload)} bytes is over {max_bytes}")
    if parts.kind == "availability":
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ReportRejected("availability is not UTF-8 text") from None
        if text not in AVAILABILITY_VALUES:
            raise ReportRejected(f"availability {text[:40]!r} is not online, offline or stopped")
        return {"kind": "availability", "dock": parts.dock, "availability": text}
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ReportRejected("payload is not UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise ReportRejected("payload is not a JSON object")
    if doc.get("schema") != SCHEMA_VERSION:
        raise ReportRejected(
            f"schema version {str(doc.get('schema'))[:20]} is not {SCHEMA_VERSION}"
        )
    if doc.get("kind") != parts.kind:
        raise ReportRejected(f"kind {str(doc.get('kind'))[:40]!r} does not match its topic")
    error = next(iter(_validators()[parts.kind].iter_errors(doc)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "document"
        raise ReportRejected(f"{parts.kind} fails the schema at {where}: {error.message[:160]}")
    if doc["dock"] != parts.dock:
        raise ReportRejected(f"dock {doc['dock']!r} does not match the topic's {parts.dock!r}")
    if parts.kind == "bay_state" and doc["bay"] != parts.bay:
        raise ReportRejected(f"bay {doc['bay']} does not match the topic's bay {parts.bay}")
    if parts.kind == "journal_row" and doc["row"]["type"] != parts.row_type:
        raise ReportRejected(f"row type {doc['row']['type']!r} does not match its topic")
    return doc


def iso_utc(moment: Any) -> str:
    """Aware datetime -> ISO 8601 UTC with microseconds, as the journal hashes it."""
    from datetime import UTC

    return str(moment.astimezone(UTC).isoformat(timespec="microseconds"))


def row_message(dock: str, entry: JournalEntry) -> dict[str, Any]:
    """A journal row as published: every field the registry needs to recompute its hash."""
    return {
        "schema": SCHEMA_VERSION,
        "kind": "journal_row",
        "dock": dock,
        "row": {
            "id": entry.id,
            "at_utc": iso_utc(entry.at_utc),
            "type": entry.type,
            "actor": entry.actor,
            "bay": entry.bay,
            "device": entry.device,
            "data": entry.data,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
        },
    }


def checkpoint_bytes(
    dock: str, journal_size: int, head_id: int, head_hash: str, signed_at: str
) -> bytes:
    """The exact bytes a checkpoint's Ed25519 signature covers (canonical JSON array)."""
    return encode_list(
        ["bodycam-dock checkpoint", 1, dock, journal_size, head_id, head_hash, signed_at]
    )


def encode_list(items: list[Any]) -> bytes:
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode()
