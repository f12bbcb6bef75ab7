"""Durable readers of the journal: typed events read from a cursor that survives restarts.

The lights, the MQTT publisher and replication each follow the journal at their own pace
and keep their own place, so none of them is ever called inside a bay's transaction and a
slow or broken one delays no bay. A reader reads rows after its cursor in short batches
(each a brief transaction of its own), turns them back into dock.events classes, does its
work, and then saves its cursor together with whatever it derived from the rows: after a
restart it goes on from there, neither re-reading nor skipping a row.
"""

from __future__ import annotations

import json
import logging
import os
import types
import typing
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from dock import journal
from dock.db.database import Database
from dock.errors import DockError
from dock.events import EVENT_TYPES, Event
from dock.journal import JournalEntry

log = logging.getLogger(__name__)


class JournalDecodeError(DockError):
    """A journal row whose data does not fit its event class."""


@dataclass(frozen=True)
class TypedEntry:
    entry: JournalEntry
    event: Event | None  # None: unknown type (a newer dock wrote it) or a row that did not fit
    problem: str | None = None  # why a known type could not be decoded


_HINTS: dict[type[Event], dict[str, Any]] = {}


def _hints(cls: type[Event]) -> dict[str, Any]:
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = typing.get_type_hints(cls)
    return found


def _typed(hint: Any, value: Any) -> Any:
    """Undo Event.data()'s plain JSON: ISO times back to datetimes, lists to tuples, enums."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        choices = [a for a in typing.get_args(hint) if a is not type(None)]
        return _typed(choices[0], value) if len(choices) == 1 else value
    if origin is tuple:
        args = typing.get_args(hint)
        return tuple(_typed(args[0] if args else Any, v) for v in value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    return value


def decode(entry: JournalEntry) -> Event | None:
    """The event a row was written from; None for a type this dock does not know."""
    cls = EVENT_TYPES.get(entry.type)
    if cls is None:
        return None
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in ("bay", "device"):
            continue
        if f.name in entry.data:
            values[f.name] = _typed(hints[f.name], entry.data[f.name])
        elif f.default is MISSING and f.default_factory is MISSING:
            raise JournalDecodeError(
                f"journal row {entry.id} ({entry.type}) has no {f.name}: "
                "the journal was written by another dock version; run `dock audit verify`"
            )
    try:
        return cls(bay=entry.bay, device=entry.device, **values)
    except (TypeError, ValueError) as err:
        raise JournalDecodeError(
            f"journal row {entry.id} ({entry.type}) does not fit its event: {err}"
        ) from None


def read_after(db: Database, cursor: int, limit: int = 200) -> list[TypedEntry]:
    """Up to `limit` rows after `cursor`, oldest first, each with its decoded event."""
    with db.transaction() as session:
        entries = journal.read_after(session, cursor, limit)
    typed = []
    for entry in entries:
        try:
            typed.append(TypedEntry(entry, decode(entry)))
        except JournalDecodeError as err:
            # One bad row must not stop a reader for good: it is skipped, loudly.
            log.warning("%s", err)
            typed.append(TypedEntry(entry, None, str(err)))
    return typed


class CursorFile:
    """A reader's place in the journal and what it derived, in one small JSON file.

    Written whole to a temporary file, fsynced, renamed over the old one, and the directory
    fsynced: a crash leaves the old file or the new one, never half of either.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[int, dict[str, Any]] | None:
        """(cursor, state), or None when there is no usable file (then rebuild from row 0)."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            cursor, state = document["cursor"], document["state"]
            if not isinstance(cursor, int) or cursor < 0 or not isinstance(state, dict):
                raise ValueError("cursor or state of the wrong kind")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("%s unreadable (%s); rebuilding from the journal", self.path, err)
            return None
        return cursor, state

    def save(self, cursor: int, state: dict[str, Any]) -> None:
        text = json.dumps({"cursor": cursor, "state": state}, sort_keys=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename is durable only once its directory is
        finally:
            os.close(directory)
