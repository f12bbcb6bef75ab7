"""A dock that dies right after a recorder deleted a clip still has that deletion journaled.

Found by `make crashtest`: a SIGKILL between the recorder's DeleteClip answer and the
`clip.deleted_from_recorder` commit left a clip gone from the card with no journal row
saying the dock had it deleted. The dock now journals `clip.delete_requested` (committed)
before it asks; this test stops the dock at that instant, in-process, to show it.
"""

from __future__ import annotations

import threading

import pytest

from dock import journal
from firmware_bridge.client import RecorderClient

WAIT_S = 30


class DockDied(BaseException):
    """Stands for the dock's process ending here: nothing after this line runs in that bay."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_clip_deleted_just_before_a_crash_has_its_delete_request_journaled(dock, monkeypatch):
    recorder = dock.recorder("ZFY50001", clip_count=3)
    storage = recorder.storage
    before = {path for path, _ in storage.list_files()}
    real_delete = RecorderClient.delete_clip
    died = threading.Event()

    def delete_then_die(client, path, sha256):
        real_delete(client, path, sha256)
        died.set()
        raise DockDied

    monkeypatch.setattr(RecorderClient, "delete_clip", delete_then_die)
    dock.start()
    dock.plug(recorder, 1)
    assert died.wait(WAIT_S)
    storage.rescan()
    gone = before - {path for path, _ in storage.list_files()}
    assert len(gone) == 1  # the recorder did delete one clip before the dock died
    with dock.db.transaction() as session:
        entries = journal.read_after(session, 0, limit=10_000)
    requested = [e for e in entries if e.type == "clip.delete_requested"]
    assert [e.data["source_path"] for e in requested] == list(gone)
    stored = {e.data["sha256"]: e.id for e in entries if e.type == "clip.stored"}
    assert stored[requested[0].data["sha256"]] < requested[0].id
