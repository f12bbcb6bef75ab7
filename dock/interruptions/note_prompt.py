"""Asking a docked recorder's officer for voice notes, one per unexplained interruption.

The bay's button is the only input: a short press starts a note, the next short press (or
`max_s`) ends it; a long press while nothing is recorded skips the oldest interruption,
which stays unexplained. Notes go oldest first. A refused note (silent, too short) keeps the
same interruption asked for, so the light asks again. Every step is an event handed to
`record`, which the service journals in its own transaction (never a bay's), and the lights
follow those rows; `keep` stores an accepted note as evidence and returns its sha256.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from dock.events import (
    Event,
    InterruptionExplained,
    VoiceNoteRefused,
    VoiceNoteSkipped,
    VoiceNotesNeeded,
    VoiceNoteStarted,
)
from dock.interruptions.timeline import Status
from dock.interruptions.voice_note import DEFAULT_LIMITS, NoteLimits, NoteRefused, check_note
from hw.gpio import Press
from hw.microphone import MP4, MicrophoneError, Statement, StatementRecorder

log = logging.getLogger(__name__)

DEFAULT_MAX_S = 60.0


class NotePrompt:
    def __init__(
        self,
        *,
        bay: int,
        device: str,
        officer_number: str | None,
        keys: Sequence[str],  # unexplained interruptions, oldest first
        recorder: StatementRecorder,
        workdir: Path,
        keep: Callable[[Statement], str],
        record: Callable[[Event], None],
        monotonic_s: Callable[[], float],
        limits: NoteLimits = DEFAULT_LIMITS,
        max_s: float = DEFAULT_MAX_S,
    ) -> None:
        self.bay, self.device, self.officer_number = bay, device, officer_number
        self.pending = list(keys)
        self.recorder, self.workdir, self.keep, self.record = recorder, workdir, keep, record
        self.monotonic_s, self.limits, self.max_s = monotonic_s, limits, max_s
        self._started_s: float | None = None
        self._takes = 0

    @property
    def is_recording(self) -> bool:
        return self._started_s is not None

    def begin(self) -> None:
        """Say which interruptions need a note (the bay's light shows "note needed")."""
        self._ask()

    def press(self, kind: Press) -> None:
        if not self.pending:
            return
        key = self.pending[0]
        if self.is_recording:
            self._finish(key)
        elif kind is Press.LONG:
            self._emit(VoiceNoteSkipped(key=key))
            self.pending.pop(0)
            self._ask()
        else:
            self._takes += 1
            suffix = ".mp4" if self.recorder.media_type == MP4 else ".wav"
            target = self.workdir / f"note-bay{self.bay}-{self._takes}{suffix}"
            try:
                self.recorder.start(target, max_s=self.max_s)
            except MicrophoneError as err:
                self._emit(VoiceNoteRefused(key=key, reason=str(err)))
                return
            self._started_s = self.monotonic_s()
            self._emit(VoiceNoteStarted(key=key))

    def tick(self) -> None:
        """Called now and then by the service: ends a note that reached max_s."""
        started = self._started_s
        if started is not None and self.monotonic_s() - started >= self.max_s:
            self._finish(self.pending[0])

    def _finish(self, key: str) -> None:
        self._started_s = None
        try:
            statement = self.recorder.stop()
            check_note(statement.path, self.limits)
        except (MicrophoneError, NoteRefused) as err:
            log.info("bay %d: voice note for %s refused: %s", self.bay, key, err)
            self._emit(VoiceNoteRefused(key=key, reason=str(err)))
            return
        sha256 = self.keep(statement)
        self._emit(
            InterruptionExplained(key=key, status=Status.EXPLAINED_BY_VOICE, note_sha256=sha256)
        )
        self.pending.pop(0)
        self._ask()

    def _ask(self) -> None:
        self._emit(VoiceNotesNeeded(officer_number=self.officer_number, keys=tuple(self.pending)))

    def _emit(self, happened: Event) -> None:
        self.record(replace(happened, bay=self.bay, device=self.device))
