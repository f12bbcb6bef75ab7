"""A recorder's shift as recording sessions and interruptions, from its event log and clips.

The rules say recording must not stop without cause, and that the officer explains every
objective interruption. The recorder logs most of them (`INTERRUPTED` with a reason, then
`RESUMED`), but a recorder that lost power logs nothing: the only trace is a hole between two
segments of one session. GA/T 947 expects adjacent segments to touch, so a hole longer than a
small tolerance that no logged interruption covers is an interruption too, found by "gap".

Pure: no I/O, no clock. Times inside are seconds since the epoch (the wire's unit), datetimes
outside. Events are read in log order (their index), not by time: the log is append-only and
a recorder clock set mid-shift must not reorder it.

How the log is read:
- a session opens at `RECORDING_STARTED` (or at an `INTERRUPTED` outside any session) and
  closes at `RECORDING_STOPPED`, the officer's own stop;
- `INTERRUPTED` opens an interruption; `RESUMED` or the next `RECORDING_STARTED` ends it;
  `RECORDING_STOPPED`, another `INTERRUPTED` or the end of the log leave it "did not resume";
- a `RECORDING_STARTED` while a session is open and nothing was interrupted means recording
  ended unlogged (power lost) and restarted: same session, and the hole shows up as a gap;
- `VOICE_NOTE` names the clip holding the officer's spoken reason for the last interruption;
  a second note for the same one, or a note before any, is kept aside as unlinked.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from firmware_bridge import messages
from firmware_bridge.client import RecorderEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_GAP_TOLERANCE_S = 2.0


@dataclass(frozen=True)
class Reason:
    code: int  # messages.REASON_*
    en: str
    zh: str

    def words(self) -> str:
        return f"{self.en} ({self.zh})"


REASONS: dict[int, Reason] = {
    messages.REASON_NONE: Reason(messages.REASON_NONE, "no reason logged", "未记录原因"),
    messages.REASON_FAULT: Reason(messages.REASON_FAULT, "device fault", "设备故障"),
    messages.REASON_BATTERY: Reason(messages.REASON_BATTERY, "battery exhausted", "电池电量耗尽"),
    messages.REASON_STORAGE: Reason(messages.REASON_STORAGE, "storage full", "存储空间已满"),
    messages.REASON_WEATHER: Reason(messages.REASON_WEATHER, "bad weather", "恶劣天气"),
    messages.REASON_PLACE_CHANGE: Reason(
        messages.REASON_PLACE_CHANGE, "change of place", "转换场所"
    ),
    messages.REASON_OBSTRUCTION: Reason(
        messages.REASON_OBSTRUCTION, "obstruction by people present", "现场人员阻碍"
    ),
    messages.REASON_OTHER: Reason(messages.REASON_OTHER, "other objective reason", "其他客观原因"),
}


def reason_for(code: int) -> Reason:
    """The words for a reason code; a code from newer firmware still gets a name."""
    return REASONS.get(code) or Reason(code, f"reason {code}", f"原因 {code}")


class Found(StrEnum):
    EVENT_LOG = "event_log"
    GAP = "gap"


class Status(StrEnum):
    EXPLAINED_BY_VOICE = "explained_by_voice"
    EXPLAINED_IN_WRITING = "explained_in_writing"
    UNEXPLAINED = "unexplained"


@dataclass(frozen=True)
class ClipSpan:
    """One clip as the timeline needs it: where it sits in time and who carried it."""

    path: str  # the card's name: data, never a host path
    start_utc: datetime
    end_utc: datetime
    officer_number: str | None = None


@dataclass(frozen=True)
class Explanation:
    """An explanation given at the dock (a note recorded or attached there, or in writing)."""

    interruption_key: str
    status: Status  # EXPLAINED_BY_VOICE or EXPLAINED_IN_WRITING
    approver: str | None = None  # who approved a written one
    note: str | None = None  # the stored note's sha256, when there is one


@dataclass(frozen=True)
class Interruption:
    key: str  # stable across dockings: "<device>:event:<index>" or "<device>:gap:<start_s>"
    device: str
    officer_number: str | None  # who carried the recorder then
    start_utc: datetime
    end_utc: datetime | None  # None: recording did not resume
    reason: Reason
    found: Found
    status: Status
    approver: str | None = None
    voice_note_path: str | None = None  # the recorder's VOICE_NOTE clip, when it named one
    event_index: int | None = None

    @property
    def did_resume(self) -> bool:
        return self.end_utc is not None

    @property
    def duration_s(self) -> float | None:
        return None if self.end_utc is None else (self.end_utc - self.start_utc).total_seconds()

    @property
    def is_explained(self) -> bool:
        return self.status is not Status.UNEXPLAINED

    def describe(self) -> str:
        """One line for the CLI and the bay's prompt."""
        length = "did not resume" if self.duration_s is None else f"{self.duration_s:.0f} s"
        return (
            f"{self.start_utc:%Y-%m-%d %H:%M:%S} UTC {self.reason.words()}, {length}, "
            f"found by {self.found}, {self.status}"
        )


@dataclass(frozen=True)
class RecordingSession:
    device: str
    officer_number: str | None
    start_utc: datetime
    end_utc: datetime | None  # the officer's stop, else the last segment's end
    segment_paths: tuple[str, ...]
    is_logged: bool  # opened by an event; False for clips no event accounts for
    is_stopped: bool  # closed by RECORDING_STOPPED


@dataclass(frozen=True)
class Timeline:
    device: str
    sessions: tuple[RecordingSession, ...]
    interruptions: tuple[Interruption, ...]  # by start time
    unlinked_voice_notes: tuple[str, ...]

    def unexplained(self) -> tuple[Interruption, ...]:
        return tuple(i for i in self.interruptions if not i.is_explained)


# -- building ---------------------------------------------------------------------------------


_Segment = tuple[float, float, str, str | None]  # start_s, end_s, path, officer


@dataclass
class _Session:
    start_s: float
    end_s: float | None = None
    is_stopped: bool = False
    is_logged: bool = True
    segments: list[_Segment] = field(default_factory=list)


@dataclass
class _Logged:
    index: int
    start_s: float
    reason: int
    end_s: float | None = None
    note_path: str | None = None


def _s(moment: datetime) -> float:
    return (moment - EPOCH).total_seconds()


def _utc(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def build_timeline(
    device: str,
    events: Iterable[RecorderEvent],
    clips: Iterable[ClipSpan],
    *,
    gap_tolerance_s: float = DEFAULT_GAP_TOLERANCE_S,
    explanations: Iterable[Explanation] = (),
) -> Timeline:
    """Sessions and interruptions of one recorder; `explanations` are those given at the dock."""
    sessions, logged, note_paths, unlinked = _read_log(events)
    spans = sorted(
        ((_s(c.start_utc), _s(c.end_utc), c.path, c.officer_number) for c in clips),
        key=lambda span: (span[0], span[2]),
    )
    clip_paths = {span[2] for span in spans}
    segments = [span for span in spans if span[2] not in note_paths]
    sessions = _assign(sessions, segments, gap_tolerance_s)

    starts = [span[0] for span in segments]
    officers = [span[3] for span in segments]

    def officer_at(moment_s: float) -> str | None:
        if not starts:
            return None
        return officers[max(0, bisect.bisect_right(starts, moment_s) - 1)]

    given = {e.interruption_key: e for e in explanations}

    def status_of(key: str, note_path: str | None) -> tuple[Status, str | None]:
        explanation = given.get(key)
        if explanation is not None:
            return explanation.status, explanation.approver
        if note_path is not None and note_path in clip_paths:
            return Status.EXPLAINED_BY_VOICE, None
        return Status.UNEXPLAINED, None

    found: list[Interruption] = []
    for entry in logged:
        key = f"{device}:event:{entry.index}"
        status, approver = status_of(key, entry.note_path)
        found.append(
            Interruption(
                key=key,
                device=device,
                officer_number=officer_at(entry.start_s),
                start_utc=_utc(entry.start_s),
                end_utc=None if entry.end_s is None else _utc(entry.end_s),
                reason=reason_for(entry.reason),
                found=Found.EVENT_LOG,
                status=status,
                approver=approver,
                voice_note_path=entry.note_path,
                event_index=entry.index,
            )
        )
    covered = _Coverage(logged)
    for session in sessions:
        for gap_start_s, gap_end_s, officer in _gaps(session, gap_tolerance_s):
            if covered.overlaps(gap_start_s, gap_end_s):
                continue
            key = f"{device}:gap:{math.floor(gap_start_s)}"
            status, approver = status_of(key, None)
            found.append(
                Interruption(
                    key=key,
                    device=device,
                    officer_number=officer,
                    start_utc=_utc(gap_start_s),
                    end_utc=_utc(gap_end_s),
                    reason=REASONS[messages.REASON_NONE],
                    found=Found.GAP,
                    status=status,
                    approver=approver,
                )
            )
    found.sort(key=lambda i: (i.start_utc, i.key))
    return Timeline(
        device=device,
        sessions=tuple(_session(device, s) for s in sessions),
        interruptions=tuple(found),
        unlinked_voice_notes=tuple(unlinked),
    )


def _read_log(
    events: Iterable[RecorderEvent],
) -> tuple[list[_Session], list[_Logged], set[str], list[str]]:
    sessions: list[_Session] = []
    logged: list[_Logged] = []
    note_paths: set[str] = set()
    unlinked: list[str] = []
    current: _Session | None = None
    open_: _Logged | None = None
    last: _Logged | None = None
    for event in sorted(events, key=lambda e: e.index):
        at_s, kind = float(event.utc_s), event.kind
        if kind == messages.EVENT_RECORDING_STARTED:
            if open_ is not None:
                open_.end_s, open_ = at_s, None
            if current is None:
                current = _Session(at_s)
                sessions.append(current)
        elif kind == messages.EVENT_RECORDING_STOPPED:
            open_ = None
            if current is not None:
                current.end_s, current.is_stopped, current = at_s, True, None
        elif kind == messages.EVENT_INTERRUPTED:
            if current is None:
                current = _Session(at_s)
                sessions.append(current)
            open_ = last = _Logged(event.index, at_s, event.reason)
            logged.append(open_)
        elif kind == messages.EVENT_RESUMED:
            if open_ is not None:
                open_.end_s, open_ = at_s, None
        elif kind == messages.EVENT_VOICE_NOTE:
            note_paths.add(event.clip_path)
            if last is not None and last.note_path is None:
                last.note_path = event.clip_path
            else:
                unlinked.append(event.clip_path)
        # other kinds come from newer firmware: they neither open nor close anything
    return sessions, logged, note_paths, unlinked


def _assign(
    sessions: list[_Session],
    segments: Sequence[_Segment],
    tolerance_s: float,
) -> list[_Session]:
    """Put each segment in the session whose window holds its start; the rest in unlogged ones."""
    ordered = sorted(sessions, key=lambda s: s.start_s)
    starts = [s.start_s for s in ordered]
    unlogged: list[_Session] = []
    for segment in segments:
        i = bisect.bisect_right(starts, segment[0] + tolerance_s) - 1
        end_s = ordered[i].end_s if i >= 0 else None
        if i >= 0 and (end_s is None or segment[0] <= end_s + tolerance_s):
            home = ordered[i]
        elif unlogged and _last_end(unlogged[-1]) + tolerance_s >= segment[0]:
            home = unlogged[-1]
        else:
            home = _Session(segment[0], is_logged=False, segments=[])
            unlogged.append(home)
        home.segments.append(segment)
    return sorted(ordered + unlogged, key=lambda s: s.start_s)


def _last_end(session: _Session) -> float:
    return max(seg[1] for seg in session.segments)


def _gaps(session: _Session, tolerance_s: float) -> Iterable[tuple[float, float, str | None]]:
    """Holes between consecutive segments, each with the officer of the segment before it."""
    segments = session.segments
    if not segments:
        return
    reached_s, officer = segments[0][1], segments[0][3]
    for start_s, end_s, _path, next_officer in segments[1:]:
        if start_s - reached_s > tolerance_s:
            yield reached_s, start_s, officer
        if end_s > reached_s:
            reached_s, officer = end_s, next_officer


class _Coverage:
    """Does any logged interruption overlap a span? Sorted starts plus a running maximum end."""

    def __init__(self, logged: Sequence[_Logged]) -> None:
        spans = sorted((e.start_s, math.inf if e.end_s is None else e.end_s) for e in logged)
        self._starts = [start for start, _ in spans]
        self._max_end: list[float] = []
        reach = -math.inf
        for _, end in spans:
            reach = max(reach, end)
            self._max_end.append(reach)

    def overlaps(self, start_s: float, end_s: float) -> bool:
        j = bisect.bisect_right(self._starts, end_s)
        return j > 0 and self._max_end[j - 1] >= start_s


def _session(device: str, session: _Session) -> RecordingSession:
    segments = session.segments
    officer = next((seg[3] for seg in segments if seg[3] is not None), None)
    if session.end_s is not None:
        end: datetime | None = _utc(session.end_s)
    elif segments:
        end = _utc(_last_end(session))
    else:
        end = None
    return RecordingSession(
        device=device,
        officer_number=officer,
        start_utc=_utc(session.start_s),
        end_utc=end,
        segment_paths=tuple(seg[2] for seg in segments),
        is_logged=session.is_logged,
        is_stopped=session.is_stopped,
    )
