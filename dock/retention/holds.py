"""Long-term holds on a clip or a case: they outlive any period, and lifting needs approval.

002 art.16 keeps footage of disputes, obstruction of officers and major or sensitive matters
long-term; a custodian may also hold footage by hand. A held clip is never purged, and a
hold is lifted only through an approved lift_hold request (dock.people.commands). Holds and
retention ends are mirrored to the central copy as an S3 legal hold and a COMPLIANCE
retain-until (`mirror_clip`), so the agency's store refuses the deletion too.

Mirroring is the replicator's (a journal reader): placing or lifting a hold never waits for
the object store. The replicator reads hold.placed, hold.lifted and retention.changed rows,
queues each affected clip with a central copy in pending_mirrors (`queue_mirrors`) and
mirrors what waits on every pass (`mirror_pending`); a mirror that failed stays queued and
is retried on the next pass, until its hold.mirrored row is written.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from dock import journal
from dock.db.models import Clip, Replica
from dock.errors import DockError
from dock.events import (
    Event,
    HoldLifted,
    HoldMirrored,
    HoldMirrorPending,
    HoldPlaced,
    RetentionChanged,
)
from dock.i18n import t
from dock.people.commands import Kind
from dock.replication.central import CentralStoreError, CentralStoreUnreachable
from dock.retention.models import ClipRetention, Hold, PendingMirror

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dock.clock import Clock
    from dock.db.database import Database
    from dock.people.commands import Commands
    from dock.people.models import Request
    from dock.people.roles import Actor
    from dock.replication.central import CentralStore


class HoldKind(StrEnum):
    DISPUTE = "dispute"  # a dispute or complaint is expected
    OBSTRUCTION = "obstruction"  # obstruction of officers
    MAJOR = "major"  # a major or sensitive matter
    BY_HAND = "by_hand"


class HoldError(DockError):
    """A hold command named nothing, or a hold that is not active."""


def place_hold(
    session: Session,
    *,
    clip_id: int | None,
    case_number: str | None,
    kind: str,
    note: str,
    actor: str,
    now: datetime,
) -> Hold:
    """`kind` as typed or posted: one of HoldKind's values."""
    if kind not in HoldKind.__members__.values():
        raise HoldError(t("the kind is one of {kinds}", kinds=", ".join(HoldKind)))
    kind = HoldKind(kind)
    if (clip_id is None) == (case_number is None):
        raise HoldError(t("a hold is on one clip or one case: give exactly one of them"))
    if clip_id is not None and session.get(Clip, clip_id) is None:
        raise HoldError(t("no clip {clip} at this dock; `dock clips` lists them", clip=clip_id))
    hold = Hold(
        clip_id=clip_id,
        case_number=case_number,
        kind=kind.value,
        note=note,
        placed_by=actor,
        placed_at_utc=now,
    )
    session.add(hold)
    session.flush()
    event = HoldPlaced(
        hold_id=hold.id, clip_id=clip_id, case_number=case_number, kind=kind, note=note
    )
    journal.append(session, event, actor=actor, at=now)
    return hold


def request_lift(
    session: Session, commands: Commands, actor: Actor, hold_id: int, *, why: str
) -> Request:
    """Ask for a hold to be lifted: a lift_hold request, reviewed and approved by the roles
    [people] reviewers and approvers name, then carried out by `lift_hold`."""
    hold = _active(session, hold_id)
    request = commands.request(
        session, actor, Kind.LIFT_HOLD, reason=why, clip_id=hold.clip_id,
        case_number=hold.case_number,
    )  # fmt: skip
    hold.lift_request_id = request.id
    return request


def lift_hold(session: Session, commands: Commands, actor: Actor, hold_id: int) -> Hold:
    """Lift a hold whose lift request is approved; the approval is then spent."""
    hold = _active(session, hold_id)
    if hold.lift_request_id is None:
        raise HoldError(
            t(
                "hold {hold}: request its lifting first (`dock hold lift {hold} --why WHY`)",
                hold=hold_id,
            )
        )
    request = commands.approved(session, actor, hold.lift_request_id, Kind.LIFT_HOLD)
    now = commands.clock.now_utc()
    hold.lifted_by, hold.lift_approved_by, hold.lifted_at_utc = (
        actor.username,
        request.decided_by,
        now,
    )
    event = HoldLifted(hold_id=hold_id, approved_by=str(request.decided_by), why=request.reason)
    journal.append(session, event, actor=actor.journal_name, at=now)
    commands.carried_out(session, actor, request, f"hold {hold_id} lifted")
    return hold


def _active(session: Session, hold_id: int) -> Hold:
    hold = session.get(Hold, hold_id)
    if hold is None or hold.lifted_at_utc is not None:
        raise HoldError(
            t("no active hold {hold}; `dock hold list` shows the active ones", hold=hold_id)
        )
    return hold


def active_holds(session: Session) -> list[Hold]:
    return list(session.scalars(select(Hold).where(Hold.lifted_at_utc.is_(None)).order_by(Hold.id)))


def is_held(session: Session, clip_id: int) -> bool:
    """Held directly or through its case."""
    case = session.scalar(select(Clip.case_number).where(Clip.id == clip_id))
    on_clip = Hold.clip_id == clip_id
    found = select(Hold.id).where(
        Hold.lifted_at_utc.is_(None),
        or_(on_clip, Hold.case_number == case) if case else on_clip,
    )
    return session.scalar(found.limit(1)) is not None


def clips_of_hold(session: Session, hold: Hold) -> list[int]:
    if hold.clip_id is not None:
        return [hold.clip_id]
    return list(session.scalars(select(Clip.id).where(Clip.case_number == hold.case_number)))


def mirror_clip(
    session: Session, central: CentralStore, clip_id: int, *, actor: str, now: datetime
) -> HoldMirrored | None:
    """Set the central copy's legal hold and retain-until from the dock's rows.

    Only a confirmed copy is touched. The retain-until only ever moves later (COMPLIANCE
    cannot be shortened); a clip kept while its case is open keeps its current date and
    relies on the legal hold, which the case's own hold gives it.
    """
    clip = session.get_one(Clip, clip_id)
    replica = session.get(Replica, clip.sha256)
    if replica is None or replica.confirmed_at_utc is None:
        return None
    is_on = is_held(session, clip_id)
    central.set_legal_hold(clip.sha256, is_on=is_on)
    end = session.scalar(
        select(ClipRetention.retention_end).where(ClipRetention.clip_id == clip_id)
    )
    until = replica.retain_until
    if end is not None and (until is None or end > until):
        central.extend_retention(clip.sha256, end)
        replica.retain_until = until = end
    event = HoldMirrored(sha256=clip.sha256, is_legal_hold=is_on, retain_until=until)
    journal.append(session, event, actor=actor, at=now)
    return event


def queue_new_copy(session: Session, sha256: str, now: datetime) -> bool:
    """After a clip's copy is confirmed: queue its mirror if it has a hold or a retention end
    beyond the copy's own lock (most clips have neither, and cost no further request)."""
    clip = session.scalar(select(Clip).where(Clip.sha256 == sha256))
    replica = session.get(Replica, sha256)
    if clip is None or replica is None:
        return False  # a voice note, or not a copy
    end = session.scalar(
        select(ClipRetention.retention_end).where(ClipRetention.clip_id == clip.id)
    )
    is_later = end is not None and (replica.retain_until is None or end > replica.retain_until)
    if not is_later and not is_held(session, clip.id):
        return False
    return queue_mirrors(session, [clip.id], now) > 0


def clips_to_mirror(session: Session, event: Event | None) -> list[int]:
    """The clips whose central copy must follow a journaled event: a hold placed or lifted
    (its clip, or every clip of its case), or a retention end moved."""
    if isinstance(event, HoldPlaced | HoldLifted):
        hold = session.get(Hold, event.hold_id)
        return clips_of_hold(session, hold) if hold is not None else []
    if isinstance(event, RetentionChanged):
        return [event.clip_id]
    return []


def queue_mirrors(session: Session, clip_ids: list[int], now: datetime) -> int:
    """Queue the mirror of each clip with a confirmed central copy (one without a copy
    yet gets it when the copy is confirmed: `queue_new_copy`); returns how many wait."""
    if not clip_ids:
        return 0
    copies = session.execute(
        select(Clip.id, Clip.sha256)
        .join(Replica, Replica.sha256 == Clip.sha256)
        .where(Clip.id.in_(clip_ids), Replica.confirmed_at_utc.is_not(None))
    ).all()
    for clip_id, sha256 in copies:
        if session.get(PendingMirror, sha256) is None:
            session.add(PendingMirror(sha256=sha256, clip_id=clip_id, since_utc=now, attempts=0))
    return len(copies)


def mirror_pending(
    db: Database, central: CentralStore, clock: Clock, *, actor: str, only: str | None = None
) -> int:
    """Mirror what waits in pending_mirrors (or only the clip with sha256 `only`), each in its
    own transaction; returns how many are done.

    A failure keeps the clip waiting, journaled (hold.mirror_pending) the first time only,
    so an outage of days writes one row per clip, not one per pass. An unreachable store
    stops the pass (raised: the replicator backs off and retries the whole queue); a store
    that refuses one clip does not hold up the others.
    """
    with db.transaction() as session:
        query = select(PendingMirror.sha256, PendingMirror.clip_id).order_by(
            PendingMirror.since_utc, PendingMirror.sha256
        )
        if only is not None:
            query = query.where(PendingMirror.sha256 == only)
        waiting = session.execute(query).all()
    done = 0
    for sha256, clip_id in waiting:
        try:
            with db.transaction() as session:
                mirror_clip(session, central, clip_id, actor=actor, now=clock.now_utc())
                session.delete(session.get_one(PendingMirror, sha256))
            done += 1
        except CentralStoreError as error:
            with db.transaction() as session:
                pending = session.get_one(PendingMirror, sha256)
                if pending.last_error is None:
                    event = HoldMirrorPending(sha256=sha256, clip_id=clip_id, error=str(error))
                    journal.append(session, event, actor=actor, at=clock.now_utc())
                pending.attempts += 1
                pending.last_error = str(error)
            if isinstance(error, CentralStoreUnreachable):
                raise
    return done
