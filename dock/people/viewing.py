"""Viewing a clip: only with a live approval, registered, streamed from the store as is.

`open_view` checks the approval and writes the viewing register row (000 art.12, 003
art.24: who, why, when, which clip, on which approval); `read_range` serves each later HTTP
range of the same viewing and checks the approval again, so an approval that expires
mid-film stops the stream. Both read the stored object in place: nothing is copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dock import journal
from dock.db.models import Clip
from dock.errors import DockError
from dock.events import ClipViewed
from dock.i18n import t
from dock.people.models import Viewing

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dock.offload.store import EvidenceStore
    from dock.people.commands import Commands
    from dock.people.roles import Actor

CHUNK_BYTES = 256 * 1024


class RangeNotSatisfiable(DockError):
    """An HTTP range outside the clip."""


@dataclass(frozen=True)
class ClipView:
    clip_id: int
    request_id: int
    sha256: str
    size_bytes: int


def open_view(
    session: Session, commands: Commands, actor: Actor, clip_id: int, store: EvidenceStore
) -> ClipView:
    """Refuses (NoLiveApproval) without the actor's own live view approval of this clip."""
    approval = commands.live_approval(session, actor, "view", clip_id)
    clip = session.get(Clip, clip_id)
    assert clip is not None  # live_approval found it
    now = commands.clock.now_utc()
    session.add(
        Viewing(
            request_id=approval.id,
            clip_id=clip_id,
            username=actor.username,
            reason=approval.reason,
            at_utc=now,
        )
    )
    happened = ClipViewed(
        clip_id=clip_id, username=actor.username, reason=approval.reason, request_id=approval.id
    )
    journal.append(session, happened, actor=actor.journal_name, at=now)
    if not store.has(clip.sha256):
        raise RangeNotSatisfiable(t("clip {clip} is not in this dock's store", clip=clip_id))
    return ClipView(clip_id, approval.id, clip.sha256, clip.size_bytes)


def read_range(
    session: Session,
    commands: Commands,
    actor: Actor,
    view: ClipView,
    store: EvidenceStore,
    start: int = 0,
    end: int | None = None,
) -> Iterator[bytes]:
    """The bytes start..end (inclusive, as HTTP ranges count) of the viewed clip, in chunks."""
    commands.live_approval(session, actor, "view", view.clip_id)  # checked before any byte
    last = view.size_bytes - 1 if end is None else min(end, view.size_bytes - 1)
    if start < 0 or start > last:
        raise RangeNotSatisfiable(
            t("range {start}-{end} is outside the clip's {size} bytes",
              start=start, end=end, size=view.size_bytes)
        )  # fmt: skip
    return _chunks(store, view.sha256, start, last)


def _chunks(store: EvidenceStore, sha256: str, start: int, last: int) -> Iterator[bytes]:
    with store.path_of(sha256).open("rb") as stored:
        stored.seek(start)
        remaining = last - start + 1
        while remaining > 0:
            chunk = stored.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
