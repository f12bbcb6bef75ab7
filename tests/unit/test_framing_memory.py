"""A noise flood must not grow the dock: every frame error is freed as soon as it is read.

A caught FrameError kept in a list holds its traceback, whose frame holds the list and the
whole buffer it failed on: a reference cycle that only the cyclic collector frees, and it
runs on object counts, not bytes, so floods of noise piled up megabytes (66 to 137 MiB).
The tests run with the collector off, so anything left to it shows up, deterministically.
"""

import gc
import random
import tracemalloc

from firmware_bridge.client import RecorderClient
from firmware_bridge.firmware.memory_board import MemoryBoard
from firmware_bridge.firmware.recorder import Recorder
from firmware_bridge.framing import FrameError, FrameReader
from firmware_bridge.transport import MemoryTransport

CHUNK_BYTES = 4096
FLOOD_CHUNKS = 100  # 400 KB of noise


def _noise(seed: int) -> bytes:
    """Noise with sync bytes in it, so it yields every kind of frame error (noise, an
    oversized length, a bad CRC), not only the cheap "no frame start" one."""
    rng = random.Random(seed)
    chunk = bytearray(rng.randbytes(CHUNK_BYTES))
    for pos in range(0, CHUNK_BYTES - 8, 97):
        chunk[pos : pos + 2] = b"\xa5\x5a"
    return bytes(chunk)


class NoisyTransport(MemoryTransport):
    """The real firmware behind a line that first delivers a flood of noise."""

    def __init__(self, recorder: Recorder, noise_chunks: int) -> None:
        super().__init__(recorder)
        self.noise_left = noise_chunks

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if self.noise_left:
            self.noise_left -= 1
            return _noise(self.noise_left)
        return super().read(max_bytes, timeout_s)


def _without_the_collector(work):
    """Run work() with gc off; return (objects only the collector could free, bytes kept)."""
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        kept = tracemalloc.get_traced_memory()[0] - before
        return gc.collect(), kept
    finally:
        tracemalloc.stop()
        gc.enable()


def test_frame_errors_from_a_noise_flood_form_no_reference_cycles():
    reader = FrameReader()

    def flood():
        seen = 0
        for n in range(FLOOD_CHUNKS):
            items = reader.feed(_noise(n))
            seen += sum(isinstance(item, FrameError) for item in items)
        assert seen > FLOOD_CHUNKS  # many errors per chunk: the flood was real

    cycles, kept = _without_the_collector(flood)
    assert cycles == 0
    assert kept < 64 * 1024  # at most about one frame's worth stays, never the flood


def test_a_request_answered_after_a_noise_flood_keeps_none_of_it():
    client = RecorderClient(NoisyTransport(Recorder(MemoryBoard()), 0), timeout_s=0.05)
    client.hello()

    def flooded_request():
        client.link.transport.noise_left = FLOOD_CHUNKS
        assert client.status().battery_pct == 90
        assert client.stats.frame_errors > FLOOD_CHUNKS

    cycles, kept = _without_the_collector(flooded_request)
    assert cycles == 0
    assert kept < 64 * 1024
