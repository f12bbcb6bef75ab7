"""Clips and event logs as a real body camera leaves them, deterministic from a seed.

Real recorders write date-named folders and time-named files
(`DCIM/20261123/20261123_081502_0001.MP4`), keep a SHA-256 per clip in their own database,
lock "important" clips, and log interruptions. The offload code has to cope with all of it,
so the simulator produces the same shape: MP4-like files (an `ftyp` box, then an `mdat` box
of pseudo-random bytes), a voice note (WAV) after most interruptions, and an event log in
which one interruption per few is left unexplained, as happens in the field.
"""

import hashlib
import random
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from firmware_bridge import messages

DEFAULT_FIRST_START_UTC_S = 1795420800  # 2026-11-23T08:00:00Z, the start of a morning shift
PLACE = "30.2741,120.1551"


@dataclass(frozen=True)
class GeneratedClip:
    path: str
    start_utc_s: int
    end_utc_s: int
    size_bytes: int
    sha256: bytes
    is_important: bool
    place: str
    seed: int
    """Content seed: `clip_content(seed, size_bytes)` gives the file's bytes."""

    def as_listing(self) -> dict:
        """The clip as the firmware lists it (messages.CLIP_FIELDS)."""
        return {
            "path": self.path,
            "start_utc_s": self.start_utc_s,
            "end_utc_s": self.end_utc_s,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "is_important": self.is_important,
            "place": self.place,
        }


def clip_content(seed: int, size_bytes: int, kind: str = "MP4") -> bytes:
    """The bytes of a clip: a container header, then deterministic pseudo-random media."""
    if kind == "WAV":
        header = b"RIFF" + struct.pack("<I", max(size_bytes - 8, 0)) + b"WAVEfmt "
    else:
        ftyp = struct.pack(">I4s4sI", 24, b"ftyp", b"isom", 0x200) + b"isomiso2"
        header = ftyp + struct.pack(">I4s", max(size_bytes - 24, 8), b"mdat")
    body_bytes = max(size_bytes - len(header), 0)
    return (header + random.Random(seed).randbytes(body_bytes))[:size_bytes]


def _name(start_utc_s: int, number: int, extension: str) -> str:
    start = datetime.fromtimestamp(start_utc_s, tz=UTC)
    return f"{start:%Y%m%d}/{start:%Y%m%d_%H%M%S}_{number:04d}.{extension}"


def generate_clips(
    count: int,
    *,
    size_bytes: int = 64 * 1024,
    seed: int = 0,
    first_start_utc_s: int = DEFAULT_FIRST_START_UTC_S,
    important_every: int = 5,
    interruption_every: int = 3,
    power_loss_every: int = 0,
    interruptions_before: int = 0,
) -> tuple[list["GeneratedClip"], list[dict]]:
    """Return (clips, events): `count` video clips, the voice notes, and the event log.

    Sizes vary within +-25% of `size_bytes`. Every `important_every`-th clip is locked; every
    `interruption_every`-th clip ends in an interruption, explained by a voice note except
    every fourth one; reasons cycle through the seven objective ones. Every
    `power_loss_every`-th other clip ends with the power lost: no event at all, and the next
    clip starts after a hole, as a recorder that lost power leaves it (found by the gap).
    `interruptions_before` counts interruptions of earlier shifts, so several recorders
    together go on through the reasons instead of all starting at the first.
    """
    rng = random.Random(seed)
    clips: list[GeneratedClip] = []
    events: list[dict] = []
    start_utc_s = first_start_utc_s
    interruptions = interruptions_before
    number = 1

    def add(kind: str, folder: str, start: int, duration_s: int, size: int, important: bool):
        nonlocal number
        content_seed = rng.getrandbits(63)
        path = folder + "/" + _name(start, number, kind)
        number += 1
        content = clip_content(content_seed, size, kind)
        clip = GeneratedClip(
            path=path,
            start_utc_s=start,
            end_utc_s=start + duration_s,
            size_bytes=size,
            sha256=hashlib.sha256(content).digest(),
            is_important=important,
            place=PLACE if important else "",
            seed=content_seed,
        )
        clips.append(clip)
        return clip

    def log(utc_s: int, kind: int, reason: int = messages.REASON_NONE, clip_path: str = ""):
        events.append(
            {
                "index": len(events),
                "utc_s": utc_s,
                "kind": kind,
                "reason": reason,
                "clip_path": clip_path,
            }
        )

    for i in range(1, count + 1):
        duration_s = rng.randint(60, 900)
        size = max(64, int(size_bytes * rng.uniform(0.75, 1.25)))
        important = important_every > 0 and i % important_every == 0
        clip = add("MP4", "DCIM", start_utc_s, duration_s, size, important)
        log(clip.start_utc_s, messages.EVENT_RECORDING_STARTED, clip_path=clip.path)
        if interruption_every > 0 and i % interruption_every == 0:
            interruptions += 1
            reason = messages.REASON_FAULT + (interruptions - 1) % 7
            log(clip.end_utc_s, messages.EVENT_INTERRUPTED, reason)
            resumed_utc_s = clip.end_utc_s + rng.randint(30, 600)
            log(resumed_utc_s, messages.EVENT_RESUMED)
            if interruptions % 4 != 0:
                note = add("WAV", "AUDIO", resumed_utc_s, 15, max(64, size_bytes // 16), False)
                log(resumed_utc_s, messages.EVENT_VOICE_NOTE, clip_path=note.path)
            start_utc_s = resumed_utc_s + 20
        elif power_loss_every > 0 and i % power_loss_every == 0:
            start_utc_s = clip.end_utc_s + rng.randint(30, 300)  # nothing logged
        else:
            log(clip.end_utc_s, messages.EVENT_RECORDING_STOPPED)
            start_utc_s = clip.end_utc_s + rng.randint(60, 3600)
    return clips, events


def write_clip_tree(root: Path, clips: list[GeneratedClip]) -> None:
    """Write the clips' files under `root`, with modification times at their end times."""
    import os

    for clip in clips:
        target = root / clip.path
        target.parent.mkdir(parents=True, exist_ok=True)
        kind = "WAV" if clip.path.endswith(".WAV") else "MP4"
        target.write_bytes(clip_content(clip.seed, clip.size_bytes, kind))
        os.utime(target, (clip.end_utc_s, clip.end_utc_s))
