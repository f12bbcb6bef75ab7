"""What a card says about a clip by itself: its name, its times, its important mark.

A recorder's listing can be wrong or empty (one that lists no times would make every clip
1970 and late), so the card's own evidence is read too and the two are cross-checked:
  - the recorder layout names a clip `YYYYMMDD_HHMMSS_<serial>_<officer>.<ext>`, in the
    recorder's local time (offload.card_utc_offset_min; FAT keeps no zone);
  - the file system's creation and modification times (the readers turn them into UTC);
  - the read-only attribute, or an `IMPORTANT/` folder, marks an important clip.
Each disagreement is one line kept with the clip; where both have a value, the card's name
wins over the listing, and the listing over the file system's times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from dock.offload.source import printable
from firmware_bridge.client import ClipInfo
from hw.mass_storage import Entry

LAYOUT_NAME = re.compile(
    r"^(?P<date>\d{8})_(?P<time>\d{6})_(?P<serial>[A-Za-z0-9-]{1,64})_(?P<officer>[A-Za-z0-9]{1,32})"
    r"\.(?P<ext>[A-Za-z0-9]{1,8})$"
)
IMPORTANT_FOLDER = "IMPORTANT"
START_TOLERANCE_S = 2.0  # FAT times have 2 s steps; names have 1 s
END_TOLERANCE_S = 60.0  # a recorder closes the file a little after it stops recording


@dataclass(frozen=True)
class LayoutName:
    start_utc: datetime
    serial: str
    officer_number: str
    extension: str


@dataclass(frozen=True)
class ClipFacts:
    """The clip's recording facts as recorded, with where they came from and every doubt."""

    start_utc: datetime | None
    end_utc: datetime | None
    time_source: str  # "card_name" | "listing" | "card_times" | "none"
    is_important: bool
    card_serial: str | None
    card_officer_number: str | None
    disagreements: tuple[str, ...]


def parse_layout_name(name: str, card_utc_offset_min: int) -> LayoutName | None:
    """The recorder layout's name, its local time turned into UTC; None if not that layout."""
    match = LAYOUT_NAME.match(name)
    if match is None:
        return None
    try:
        zone = timezone(timedelta(minutes=card_utc_offset_min))
        local = datetime.strptime(match["date"] + match["time"], "%Y%m%d%H%M%S").replace(
            tzinfo=zone
        )
    except ValueError:
        return None  # 20261399_256199: looks like the layout, is not a time
    return LayoutName(
        start_utc=local.astimezone(UTC),
        serial=match["serial"],
        officer_number=match["officer"],
        extension=match["ext"].upper(),
    )


def is_marked_important(entry: Entry) -> bool:
    folders = entry.path.split("/")[:-1]
    return entry.is_readonly or any(f.upper() == IMPORTANT_FOLDER for f in folders)


def _listed_time(utc_s: int) -> datetime | None:
    """A listed time of 0 (or before 2000) means the recorder keeps none, not 1970."""
    return datetime.fromtimestamp(utc_s, tz=UTC) if utc_s >= 946_684_800 else None


def _off(a: datetime, b: datetime) -> float:
    return abs((a - b).total_seconds())


def clip_facts(
    entry: Entry,
    listed: ClipInfo | None,
    *,
    device_serial: str,
    officer_number: str | None,
    card_utc_offset_min: int,
) -> ClipFacts:
    """Cross-check the card with the listing; keep the card's evidence, note each disagreement."""
    name = parse_layout_name(entry.path.rsplit("/", 1)[-1], card_utc_offset_min)
    listed_start = _listed_time(listed.start_utc_s) if listed is not None else None
    listed_end = _listed_time(listed.end_utc_s) if listed is not None else None
    card_start = entry.created_utc or entry.modified_utc
    doubts: list[str] = []
    shown = printable(entry.path)

    if name is not None:
        start, source = name.start_utc, "card_name"
    elif listed_start is not None:
        start, source = listed_start, "listing"
    elif card_start is not None:
        start, source = card_start, "card_times"
    else:
        start, source = None, "none"
        doubts.append(f"{shown}: no recording time on the card or in the recorder's listing")
    if (
        name is not None
        and listed_start is not None
        and _off(name.start_utc, listed_start) > START_TOLERANCE_S
    ):
        doubts.append(
            f"{shown}: start {name.start_utc:%Y-%m-%d %H:%M:%S}Z in the card's name, "
            f"{listed_start:%Y-%m-%d %H:%M:%S}Z in the recorder's listing"
        )

    end = listed_end
    modified = entry.modified_utc
    if (
        modified is not None
        and listed_end is not None
        and _off(modified, listed_end) > END_TOLERANCE_S
    ):
        doubts.append(
            f"{shown}: modified {modified:%Y-%m-%d %H:%M:%S}Z on the card, "
            f"ended {listed_end:%Y-%m-%d %H:%M:%S}Z in the recorder's listing"
        )
    if end is None and start is not None:
        end = modified if modified is not None and modified >= start else start
    if start is not None and end is not None and end < start:
        doubts.append(f"{shown}: ends before it starts; end taken as the start")
        end = start

    card_important = is_marked_important(entry)
    is_important = card_important or (listed is not None and listed.is_important)
    if listed is not None and card_important != listed.is_important:
        doubts.append(
            f"{shown}: {'marked' if card_important else 'not marked'} important on the card, "
            f"{'marked' if listed.is_important else 'not marked'} in the recorder's listing"
        )
    if name is not None and name.serial.upper() != device_serial.upper():
        doubts.append(
            f"{shown}: serial {name.serial} in the card's name, the recorder is {device_serial}"
        )
    if name is not None and officer_number is not None and name.officer_number != officer_number:
        doubts.append(
            f"{shown}: officer {name.officer_number} in the card's name, "
            f"{officer_number} carried the recorder by the ledger"
        )
    return ClipFacts(
        start_utc=start,
        end_utc=end,
        time_source=source,
        is_important=is_important,
        card_serial=name.serial if name is not None else None,
        card_officer_number=name.officer_number if name is not None else None,
        disagreements=tuple(doubts),
    )
