"""Is this voice note worth keeping? Measure it, and refuse it in one line if not.

A note explains an interruption only if someone actually spoke: a silent file (a muted or
unplugged microphone) or a press-press with nothing between must be refused at the bay, so
the light asks again while the officer is still there. Speech is measured in 20 ms windows:
a window counts as voiced when its RMS is above `voiced_dbfs`; the note needs at least
`min_voiced_s` of those, and `min_duration_s` in all.

Reads PCM WAV (8, 16 or 32 bit) with the standard library. A camera note (MP4) is measured
on its sound, which ffmpeg extracts to a temporary WAV first.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tempfile
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

from dock.errors import DockError

WINDOW_S = 0.02
_ARRAY_CODES = {1: "B", 2: "h", 4: "i"}  # WAV: 8-bit is unsigned, wider is signed


class NoteRefused(DockError):
    """The note is not kept; the message says why and what the officer should do."""


class NoteTooShort(NoteRefused):
    pass


class NoteSilent(NoteRefused):
    pass


class NoteUnreadable(NoteRefused):
    pass


@dataclass(frozen=True)
class NoteLimits:
    min_duration_s: float = 2.0
    min_voiced_s: float = 0.5
    voiced_dbfs: float = -40.0


DEFAULT_LIMITS = NoteLimits()


@dataclass(frozen=True)
class NoteMeasure:
    duration_s: float
    rms_dbfs: float  # over the whole note; -inf for digital silence
    peak_dbfs: float
    voiced_s: float


def _dbfs(level: float) -> float:
    return 20 * math.log10(level) if level > 0 else -math.inf


def measure_wav(path: Path, *, voiced_dbfs: float = NoteLimits.voiced_dbfs) -> NoteMeasure:
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            if width not in _ARRAY_CODES or rate <= 0:
                raise NoteUnreadable(
                    f"voice note is {8 * width}-bit audio, not 8/16/32-bit PCM: record it again"
                )
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError) as err:
        raise NoteUnreadable(
            f"voice note unreadable ({err}): press the button to record it again"
        ) from None
    samples = array(_ARRAY_CODES[width])
    samples.frombytes(raw[: len(raw) - len(raw) % width])
    if sys.byteorder == "big":
        samples.byteswap()
    full_scale = float(2 ** (8 * width - 1))
    offset = full_scale if width == 1 else 0.0
    window = max(1, int(rate * WINDOW_S) * channels)
    threshold = (10 ** (voiced_dbfs / 20) * full_scale) ** 2
    total_squares, peak, voiced_windows = 0.0, 0.0, 0
    for start in range(0, len(samples), window):
        chunk = samples[start : start + window]
        centred = [s - offset for s in chunk] if offset else chunk
        squares = math.fsum(s * s for s in centred)
        total_squares += squares
        peak = max(peak, max(abs(s) for s in centred) if len(centred) else 0.0)
        voiced_windows += squares / len(centred) > threshold
    count = len(samples)
    rms = math.sqrt(total_squares / count) / full_scale if count else 0.0
    return NoteMeasure(
        duration_s=count / channels / rate,
        rms_dbfs=_dbfs(rms),
        peak_dbfs=_dbfs(peak / full_scale),
        voiced_s=voiced_windows * window / channels / rate,
    )


def measure_note(path: Path, *, voiced_dbfs: float = NoteLimits.voiced_dbfs) -> NoteMeasure:
    """Measure a WAV directly, anything else (a camera MP4) on its sound through ffmpeg."""
    if path.suffix.lower() == ".wav":
        return measure_wav(path, voiced_dbfs=voiced_dbfs)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise NoteUnreadable(f"cannot measure a {path.suffix} note without ffmpeg: install ffmpeg")
    with tempfile.TemporaryDirectory(prefix="note-") as tmp:
        sound = Path(tmp) / "sound.wav"
        command = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-vn", "-ac", "1"]
        done = subprocess.run([*command, str(sound)], capture_output=True, timeout=60, check=False)
        if done.returncode != 0 or not sound.exists():
            raise NoteUnreadable(
                f"voice note has no readable sound ({path.suffix} file): record it again"
            )
        return measure_wav(sound, voiced_dbfs=voiced_dbfs)


def check_note(path: Path, limits: NoteLimits = DEFAULT_LIMITS) -> NoteMeasure:
    """The note's measure if it is kept; NoteRefused (one line for the officer) if not."""
    measure = measure_note(path, voiced_dbfs=limits.voiced_dbfs)
    if measure.duration_s < limits.min_duration_s:
        raise NoteTooShort(
            f"voice note is {measure.duration_s:.1f} s long, needs at least "
            f"{limits.min_duration_s:g} s: press the button, speak, then press again"
        )
    if measure.voiced_s < limits.min_voiced_s:
        loudest = (
            "digital silence"
            if measure.peak_dbfs == -math.inf
            else f"{measure.peak_dbfs:.0f} dBFS at the loudest"
        )
        raise NoteSilent(
            f"voice note has no speech ({measure.voiced_s:.1f} s voiced, {loudest}): "
            "press the button and speak towards the dock"
        )
    return measure
