"""Faults the simulated recorder shows on demand: arguments, never in-band magic strings.

Byte faults (drop, corrupt, slow) act on what the recorder sends, because that is what the
dock's link has to survive; a request that the recorder never fully receives is covered by
`ignore_requests` and by the recorder dropping a cut frame after FRAME_IDLE_MS.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Faults:
    slow_link_bytes_per_s: int | None = None
    """Send replies no faster than this (a slow or congested USB hub)."""
    drop_byte_every: int | None = None
    """Drop every Nth byte the recorder sends (counted over the whole insertion)."""
    corrupt_byte_every: int | None = None
    """Flip the bits of every Nth byte the recorder sends."""
    corrupt_frame_every: int | None = None
    """Flip one byte in the CRC of every Nth reply frame."""
    disconnect_after_frames: int | None = None
    """Send N whole reply frames, then half of the next one, then unplug (USB detach)."""
    ignore_requests: int = 0
    """Leave the first N request frames of each insertion unanswered (the dock must retry)."""
    lie_about_sizes: bool = False
    """List every clip with a size that is not its real size."""
    protocol_version: int | None = None
    """Answer Hello with this protocol version (a recorder flashed with another firmware)."""
    failing_self_test_version: str | None = None
    """A firmware of this version fails its self-test on its test boot (and is rolled back)."""

    def __post_init__(self) -> None:
        for name in (
            "slow_link_bytes_per_s",
            "drop_byte_every",
            "corrupt_byte_every",
            "corrupt_frame_every",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"Faults.{name} must be at least 1, not {value}")
        if self.disconnect_after_frames is not None and self.disconnect_after_frames < 0:
            raise ValueError("Faults.disconnect_after_frames must not be negative")
        if self.ignore_requests < 0:
            raise ValueError("Faults.ignore_requests must not be negative")


LIED_SIZE_DELTA_BYTES = 4096
"""What a lying listing adds to each clip's size: enough that no reader can miss it."""
