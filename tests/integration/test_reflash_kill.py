"""A dock SIGKILLed mid-transfer: the next session resumes from the recorder's offset.

The dock is a child process running the real Reflash session against the simulator's pty;
the test holds the simulator still once the child has sent part of the image, kills the child
with SIGKILL, and a new session in this process finishes the update. The chunk the child was
sending when it died may be cut short on the wire, so it is the one that can go twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from dock import journal
from dock.clock import FixedClock
from dock.db import open_database
from dock.reflash.session import Reflash
from firmware_bridge.client import MAX_CHUNK_BYTES, RecorderClient
from firmware_bridge.image import DEV_KEY_PATH, Image, build_image, load_private_key
from firmware_bridge.sim.recorder import directory_recorder

KEY = bytes(range(32))
PAYLOAD = bytes(i % 253 for i in range(1024 * 1024))
KILL_AFTER_BYTES = 8 * MAX_CHUNK_BYTES
REPO = Path(__file__).resolve().parents[2]


def signed_image() -> Image:
    return build_image(
        PAYLOAD,
        model="ZFY-SIM",
        version="1.1.0",
        min_version="1.0.0",
        key=load_private_key(DEV_KEY_PATH),
    )


def reflash_for(data_dir: Path) -> Reflash:
    clock = FixedClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    return Reflash(open_database(data_dir), clock, technician="tom")


class _CountingClient(RecorderClient):
    """The child dock's client: says on stdout how many image bytes it put on the link."""

    def firmware_chunk(self, offset, data):
        print(len(data), flush=True)
        return super().firmware_chunk(offset, data)


def dock_child(port: str, data_dir: str) -> None:
    """The dock that will be killed: a real session, counting the bytes it sends."""
    reflash_for(Path(data_dir)).run(
        lambda: _CountingClient.open(port, timeout_s=2.0), lambda serial: KEY, signed_image()
    )


def test_a_dock_killed_mid_transfer_resumes_at_the_recorders_offset_resending_one_chunk_at_most(
    tmp_path,
):
    data_dir = tmp_path / "data"
    open_database(data_dir).close()  # migrated once, before the child and the new session
    with directory_recorder(tmp_path / "card", [], key=KEY) as sim:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from tests.integration.test_reflash_kill import dock_child;"
                " dock_child(*sys.argv[1:])",
                str(sim.port),
                str(data_dir),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        child_sent = 0
        for line in child.stdout:  # each line: a chunk the child is about to send
            child_sent += int(line)
            if child_sent > KILL_AFTER_BYTES:
                break
        with sim.lock:  # the recorder handles no more bytes while the dock dies
            held_at_kill = sim.board.slot_size(1)
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            child_sent += sum(int(line) for line in child.stdout)
        sim.unplug()  # the killed dock's port goes away, as a restart re-opens it
        sim.plug()
        outcome = reflash_for(data_dir).run(
            lambda: RecorderClient.open(sim.port, timeout_s=2.0), lambda serial: KEY, signed_image()
        )
    assert child.returncode == -signal.SIGKILL
    assert outcome.is_confirmed
    assert outcome.resumed_from_bytes >= held_at_kill > 0
    assert outcome.sent_bytes == len(PAYLOAD) - outcome.resumed_from_bytes
    # Only the chunk on the wire when the dock died can be sent twice; nothing held is.
    resent = child_sent + outcome.sent_bytes - len(PAYLOAD)
    assert 0 <= resent <= MAX_CHUNK_BYTES
    db = open_database(data_dir)
    with db.transaction() as session:
        started = [r for r in journal.read_after(session, 0, 10_000) if r.type == "reflash.started"]
    db.close()
    assert [r.data["resumed_from_bytes"] for r in started] == [0, outcome.resumed_from_bytes]
