"""The one way footage leaves the evidence store: an approved purge of what has expired.

A purge is a request through the command layer (kind purge: requested, reviewed, approved
by the roles [people] names, carried out here by its requester); it covers what had expired
when it was asked for, so nothing expiring after the reviewers looked is removed.

Only expired, unheld footage not linked to a case is removed. Its object is first moved
aside (``<store>/purged/<sha256>``) in the same step that writes its tombstone and journal
row, and `dock purge undo` puts it back until the undo window closes; a later run removes
it for good. A crash between the move and the commit leaves an object aside without a
tombstone: the next run puts it back, so a crash at any instant loses nothing.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import Select, String, and_, exists, func, select, type_coerce

from dock import journal
from dock.clock import stored_time
from dock.db.models import Clip
from dock.errors import DockError
from dock.events import ClipPurged, PurgeFinalized, PurgeUndone
from dock.i18n import t
from dock.offload.store import fsync_dir
from dock.people.commands import Kind
from dock.retention.models import ClipRetention, Hold, Tombstone
from dock.retention.policy import shown_rule

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dock.config import RetentionSettings
    from dock.offload.store import EvidenceStore
    from dock.people.commands import Commands
    from dock.people.models import Request
    from dock.people.roles import Actor


class PurgeError(DockError):
    """An undo named a clip that was not purged, or whose window has closed."""


class Expired(NamedTuple):
    """One clip a purge would remove. Its two times stay as SQLite stores them (UTC text)
    until asked for, and it is a tuple: a dry run lists hundreds of thousands and prints
    only their dates."""

    clip_id: int
    sha256: str
    size_bytes: int
    officer_number: str | None
    recorded_start_text: str
    retention_end_text: str
    rule: str

    @property
    def recorded_start_utc(self) -> datetime:
        return stored_time(self.recorded_start_text)

    @property
    def retention_end(self) -> datetime:
        return stored_time(self.retention_end_text)


def lines(found: list[Expired]) -> list[str]:
    """One line per clip in the agency's language, as `dock purge` prints them.

    Translated once, not per clip (a dry run lists hundreds of thousands): t() is given
    positional fields ("{0}" ...) for its names and so hands back the translated line as a
    format to fill; each distinct rule is translated once too.
    """
    line = t(
        "clip {clip} ({officer}, recorded {recorded}): expired {expired} under {rule}; {sha256}",
        clip="{0}", officer="{1}", recorded="{2}", expired="{3}", rule="{4}", sha256="{5}",
    )  # fmt: skip
    shown = {rule: shown_rule(rule) for rule in {e.rule for e in found}}
    fill = line.format
    return [
        fill(clip_id, officer or "-", recorded[:10], ended[:10], shown[rule], sha256)
        for clip_id, sha256, _, officer, recorded, ended, rule in found
    ]


def expired_clips(session: Session, now: datetime, *, limit: int | None = None) -> list[Expired]:
    """What a purge would remove now, oldest end first: the dry run's list (its first
    `limit` only, for a page).

    One set-based query read from ix_clip_retention_end, which holds only the ends already
    passed in order; the case test is written through coalesce so SQLite does not walk
    the case-number index over nearly every clip instead (and '' is no case, as in
    policy). Rows come straight from the connection, times as text: building ORM rows and
    datetimes for every expired clip cost more than the query itself.
    """
    query = _expired(now).limit(limit)
    return list(map(Expired._make, session.connection().execute(query).all()))


def count_expired(session: Session, now: datetime) -> int:
    """How many clips expired_clips would list, without building them."""
    counted = select(func.count()).select_from(_expired(now).order_by(None).subquery())
    return int(session.connection().execute(counted).scalar_one())


def _expired(now: datetime) -> Select:
    held_clip = exists().where(Hold.clip_id == ClipRetention.clip_id, Hold.lifted_at_utc.is_(None))
    purged = exists().where(Tombstone.clip_id == ClipRetention.clip_id)
    return (
        select(
            Clip.id,
            Clip.sha256,
            Clip.size_bytes,
            Clip.officer_number,
            type_coerce(Clip.recorded_start_utc, String),
            type_coerce(ClipRetention.retention_end, String),
            ClipRetention.rule,
        )
        .join(Clip, Clip.id == ClipRetention.clip_id)
        .where(
            and_(
                ClipRetention.retention_end <= now,
                func.coalesce(Clip.case_number, "") == "",
                ~held_clip,
                ~purged,
            )
        )
        .order_by(ClipRetention.retention_end, ClipRetention.clip_id)
    )


def aside_path(store: EvidenceStore, sha256: str) -> Path:
    return store.root / "purged" / sha256


def request_purge(session: Session, commands: Commands, actor: Actor, *, why: str) -> Request:
    """Ask to purge what has expired by now; reviewers see it with `dock purge --dry-run`."""
    return commands.request(session, actor, Kind.PURGE, reason=why)


def purge(
    session: Session,
    store: EvidenceStore,
    settings: RetentionSettings,
    commands: Commands,
    actor: Actor,
    request_id: int,
) -> list[Expired]:
    """Carry out an approved purge request: every clip expired by the request's time and
    still unheld and not case-linked now leaves the store (aside until the window closes).
    What earlier purges set aside and is past its undo window goes for good first."""
    request = commands.approved(session, actor, request_id, Kind.PURGE)
    approved_by = str(request.decided_by)
    now = commands.clock.now_utc()
    finalize(session, store, actor=actor.journal_name, now=now)
    restore_orphans(session, store)
    undo_until = now + timedelta(days=settings.undo_days)
    found = expired_clips(session, request.requested_at_utc)
    (store.root / "purged").mkdir(exist_ok=True)
    for clip in found:
        source, aside = store.path_of(clip.sha256), aside_path(store, clip.sha256)
        if source.exists():
            os.replace(source, aside)
        session.add(
            Tombstone(
                clip_id=clip.clip_id,
                sha256=clip.sha256,
                size_bytes=clip.size_bytes,
                removed_at_utc=now,
                rule=clip.rule,
                requested_by=request.requested_by,
                approved_by=approved_by,
                undo_until=undo_until,
            )
        )
        event = ClipPurged(
            clip_id=clip.clip_id,
            sha256=clip.sha256,
            rule=clip.rule,
            approved_by=approved_by,
            undo_until=undo_until,
        )
        journal.append(session, event, actor=actor.journal_name, at=now)
    commands.carried_out(session, actor, request, f"{len(found)} clips purged")
    if found:
        fsync_dir(store.root / "purged")
    return found


def undo(
    session: Session, store: EvidenceStore, clip_id: int, *, why: str, actor: str, now: datetime
) -> Tombstone:
    """Put a purged clip's object back while its undo window is open."""
    tomb = session.get(Tombstone, clip_id)
    if tomb is None:
        raise PurgeError(
            t("clip {clip} was not purged; `dock purge list` shows what was", clip=clip_id)
        )
    if tomb.finalized_at_utc is not None or tomb.undo_until <= now:
        raise PurgeError(
            t(
                "clip {clip}'s undo window closed {on}; only the central copy, if any, holds it now",
                clip=clip_id,
                on=f"{tomb.undo_until:%Y-%m-%d}",
            )
        )
    _put_back(store, tomb.sha256)
    session.delete(tomb)
    event = PurgeUndone(clip_id=clip_id, sha256=tomb.sha256, why=why)
    journal.append(session, event, actor=actor, at=now)
    return tomb


def finalize(session: Session, store: EvidenceStore, *, actor: str, now: datetime) -> list[int]:
    """Remove for good the objects whose undo window has closed; the tombstones stay."""
    due = session.scalars(
        select(Tombstone).where(Tombstone.finalized_at_utc.is_(None), Tombstone.undo_until <= now)
    ).all()
    for tomb in due:
        aside = aside_path(store, tomb.sha256)
        if aside.exists():
            os.unlink(aside)
        tomb.finalized_at_utc = now
        journal.append(
            session, PurgeFinalized(clip_id=tomb.clip_id, sha256=tomb.sha256), actor=actor, at=now
        )
    if due:
        fsync_dir(store.root / "purged")
    return [t.clip_id for t in due]


def restore_orphans(session: Session, store: EvidenceStore) -> list[str]:
    """Objects aside with no tombstone (a purge that crashed before its commit) go back."""
    folder = store.root / "purged"
    if not folder.is_dir():
        return []
    names = {entry.name for entry in os.scandir(folder)}
    known = set(session.scalars(select(Tombstone.sha256).where(Tombstone.sha256.in_(names))))
    orphans = sorted(names - known)
    for sha256 in orphans:
        _put_back(store, sha256)
    return orphans


def _put_back(store: EvidenceStore, sha256: str) -> None:
    aside, final = aside_path(store, sha256), store.path_of(sha256)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(aside, final)
    fsync_dir(final.parent)


def tombstones(session: Session) -> list[Tombstone]:
    return list(session.scalars(select(Tombstone).order_by(Tombstone.removed_at_utc)))
