"""Whether a stored clip may leave the recorder under the "after_central_copy" policy.

The answer is the replicas table (dock.replication.records): a clip is freed only once its
central copy is confirmed. Until that module exists in a build, no copy counts as confirmed,
so the policy errs towards keeping clips on the recorder, never towards deleting them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dock.db.database import Database


def is_copy_confirmed(
    db: Database, sha256: str, *, central: Any = None, now: datetime | None = None
) -> bool:
    """With `central` (a CentralStore), the confirmed copy is also re-checked with HEAD
    (dock.replication.recheck): a copy lost since its confirmation frees nothing."""
    try:
        from dock.replication.records import is_replicated
    except ImportError:  # replication not built in: nothing is confirmed
        return False
    if central is not None and now is not None:
        from dock.replication.recheck import copy_still_held

        return copy_still_held(db, central, sha256, now)
    with db.session() as session:
        return bool(is_replicated(session, sha256))


def waiting_for_copy(db: Database, device_serial: str) -> tuple[int, int]:
    """(count, bytes) of this recorder's stored clips still waiting for their central copy:
    room the dock cannot free, which the pre-shift check names."""
    try:
        from dock.replication.records import waiting_for_copy as waiting
    except ImportError:
        return 0, 0
    with db.session() as session:
        clips = list(waiting(session, device_serial))
    return len(clips), sum(int(size) for _, size in clips)
