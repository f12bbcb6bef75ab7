"""Before a recorder deletes a clip: is its confirmed central copy still there?

Why again: a copy confirmed last week can be gone today (deleted through a bucket whose
lock was never on, or a store reconfigured to another bucket). The replicas table alone
would still say "confirmed" and the recorder's last copy would be wiped. So the delete
path asks the store once more (HEAD) and trusts only an answer with the checksum and the
COMPLIANCE lock recorded at confirmation. A copy that is gone is journaled as
replication.refused (object_lost) and queued again for upload; a store that does not answer
keeps the clip on the recorder for this docking (nothing is deleted on an unanswered check).
"""

from __future__ import annotations

from datetime import datetime

from dock import journal
from dock.db.database import Database
from dock.db.models import Replica
from dock.events import ReplicationRefused
from dock.replication import records
from dock.replication.central import CentralStore, CentralStoreError, object_key
from dock.replication.records import ACTOR


def copy_still_held(db: Database, central: CentralStore, sha256: str, now: datetime) -> bool:
    """True only when the DB says confirmed AND HEAD answers the same checksum and lock."""
    with db.session() as session:
        row = session.get(Replica, sha256)
        if row is None or row.confirmed_at_utc is None:
            return False
        checksum, retain_until = row.checksum, row.retain_until
    try:
        found = central.head(sha256)
    except CentralStoreError:
        return False  # cannot look now: the clip stays on the recorder until a check answers
    if (
        found is not None
        and found.checksum_sha256 == checksum
        and found.lock_mode == "COMPLIANCE"
        and found.retain_until is not None
        and (retain_until is None or found.retain_until >= retain_until)
    ):
        return True
    detail = "HEAD found nothing" if found is None else f"store now says {found.checksum_sha256}"
    with db.transaction() as session:
        if records.unconfirm(session, sha256):
            journal.append(
                session,
                ReplicationRefused(
                    sha256=sha256, key=object_key(sha256), reason="object_lost", detail=detail
                ),
                actor=ACTOR,
                at=now,
            )
    return False
