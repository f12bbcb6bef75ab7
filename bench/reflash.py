"""Reflash figures over a real pty against the simulator.

- a 1 MiB signed image, chunks to commit, against the link's raw throughput measured in the
  same run with GetStatus-sized frames and with maximum-sized frames (FirmwareChunk at an
  offset the recorder does not want: a full frame each way that writes nothing); target at
  least 0.8 of the maximum-frame figure. The recorder checks the image's signature once, in
  the first FirmwareBegin: that fixed cost (pure-Python Ed25519 in the reference firmware)
  is `begin_s`, and `fresh_ratio_to_raw_max` is the whole reflash, that begin included.
  Other work shares the CPU, so each figure is the median of ROUNDS rounds, each with its
  own simulator, and the ratios' spread is given;
- resume cost: a transfer broken by an unplug mid-way, then resumed: image bytes put on the
  link beyond the image's size; target under one chunk.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from dock.reflash.transfer import send_image
from firmware_bridge.client import MAX_CHUNK_BYTES, RecorderClient
from firmware_bridge.errors import RecorderError
from firmware_bridge.framing import encode_frame
from firmware_bridge.image import DEV_KEY_PATH, build_image, load_private_key
from firmware_bridge.messages import encode
from firmware_bridge.sim import Faults
from firmware_bridge.sim.recorder import directory_recorder

KEY = bytes(range(32))
IMAGE_BYTES = 1024 * 1024
RAW_REQUESTS = 200
ROUNDS = 5


def _image(size: int = IMAGE_BYTES):
    payload = bytes(i % 251 for i in range(size))
    key = load_private_key(DEV_KEY_PATH)
    return build_image(payload, model="ZFY-SIM", version="1.1.0", min_version="1.0.0", key=key)


def _session(port: str | None) -> RecorderClient:
    assert port is not None
    client = RecorderClient.open(port, timeout_s=2.0)
    client.hello()
    client.authenticate(KEY)
    return client


def _frame_bytes(name: str, values: dict) -> int:
    return len(encode_frame(0, *encode(name, values)))


def _round(image) -> dict:
    """One simulator: raw GetStatus and maximum-sized frames, then the image."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-reflash-") as tmp,
        directory_recorder(Path(tmp) / "card", [], key=KEY) as sim,
        _session(sim.port) as c,
    ):
        started = time.perf_counter()
        for _ in range(RAW_REQUESTS):
            c.status()
        status_s = time.perf_counter() - started
        started = time.perf_counter()
        c.firmware_begin(image.manifest_bytes, image.signature)  # the signature check
        begin_s = time.perf_counter() - started
        filler = bytes(MAX_CHUNK_BYTES)
        started = time.perf_counter()
        for _ in range(RAW_REQUESTS):
            c.firmware_chunk(IMAGE_BYTES, filler)  # not the wanted offset: nothing written
        max_s = time.perf_counter() - started
        started = time.perf_counter()
        send_image(c, image)  # resumes at 0 from the begin above: chunks and commit
        image_s = time.perf_counter() - started
    raw_max = RAW_REQUESTS * _frame_bytes("FirmwareChunk", {"offset": 0, "data": filler}) / max_s
    return {
        "image_bytes_per_s": IMAGE_BYTES / image_s,
        "raw_max_frame_bytes_per_s": raw_max,
        "raw_get_status_bytes_per_s": RAW_REQUESTS
        * (_frame_bytes("GetStatus", {}) + 44)
        / status_s,
        "begin_s": begin_s,
        "ratio_to_raw_max": IMAGE_BYTES / image_s / raw_max,
        "fresh_ratio_to_raw_max": IMAGE_BYTES / (begin_s + image_s) / raw_max,
    }


def throughput() -> dict:
    image = _image()
    rounds = [_round(image) for _ in range(ROUNDS)]
    figures = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    ratios = [r["ratio_to_raw_max"] for r in rounds]
    return {
        "name": "reflash_throughput_1mib",
        "figures": {
            **{name: round(value, 3 if value < 100 else None) for name, value in figures.items()},
            "ratio_to_raw_max_min": round(min(ratios), 3),
            "ratio_to_raw_max_max": round(max(ratios), 3),
            "rounds": ROUNDS,
            "target_ratio": 0.8,
        },
        "units": {
            "image_bytes_per_s": "B/s",
            "raw_max_frame_bytes_per_s": "B/s",
            "raw_get_status_bytes_per_s": "B/s",
            "begin_s": "s",
            "ratio_to_raw_max": "ratio",
            "fresh_ratio_to_raw_max": "ratio",
            "ratio_to_raw_max_min": "ratio",
            "ratio_to_raw_max_max": "ratio",
            "rounds": "rounds",
            "target_ratio": "ratio",
        },
        "targets": {"ratio_to_raw_max": ">= 0.8"},
    }


def resume_cost() -> dict:
    image = _image(256 * 1024)
    sent = [0]
    with tempfile.TemporaryDirectory(prefix="bench-reflash-") as tmp:
        sim = directory_recorder(Path(tmp) / "card", [], key=KEY, faults=Faults())
        sim.faults = Faults(disconnect_after_frames=20)
        with sim:
            try:
                with _session(sim.port) as client:
                    original = client.firmware_chunk

                    def counted(offset: int, data: bytes):
                        sent[0] += len(data)
                        return original(offset, data)

                    client.firmware_chunk = counted  # type: ignore[method-assign]
                    send_image(client, image)
            except RecorderError:
                pass
            sim.faults = Faults()
            port = sim.plug()
            with _session(port) as client:
                transfer = send_image(client, image)
    resent = sent[0] + transfer.sent_bytes - len(image.payload)
    return {
        "name": "reflash_resume_cost",
        "figures": {
            "resent_bytes": resent,
            "resumed_from_bytes": transfer.resumed_from_bytes,
            "chunk_bytes": MAX_CHUNK_BYTES,
        },
        "units": {"resent_bytes": "B", "resumed_from_bytes": "B", "chunk_bytes": "B"},
    }


def run() -> list[dict]:
    return [throughput(), resume_cost()]
