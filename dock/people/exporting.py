"""Carrying out an approved export: the two disc images, then the request marked carried out.

Every face (the CLI's `dock export run`, the web pages) calls `carry_out_export`, so the
rule is checked in one place: the request is an approved, unexpired export confirmed by
[people] export_confirmations distinct people, and whoever writes the discs is one of them.
The first confirmer is named the maker and the second the extractor on the written note;
all of them are in the bag and the journal. The images are written and journaled
(export.written) before the request's carried_out step: a crash between the two leaves
the approval live, so the export can be run again, never an export without its record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from dock.i18n import t
from dock.people.commands import Kind, RequestRefused
from dock.people.models import Request, Staff

if TYPE_CHECKING:
    from pathlib import Path

    from dock.config import Settings
    from dock.db.database import Database
    from dock.export.disc import ExportImages
    from dock.offload.store import EvidenceStore
    from dock.people.commands import Commands
    from dock.people.roles import Actor


def carry_out_export(
    db: Database,
    commands: Commands,
    actor: Actor,
    request_id: int,
    *,
    store: EvidenceStore,
    out_dir: Path,
    settings: Settings,
) -> ExportImages:
    """Write copy 1 and copy 2 of an approved, confirmed export; the request is then spent."""
    from dock.export.disc import write_export

    with db.transaction() as session:
        confirmers = commands.start_export(session, actor, request_id)
        if actor.username not in confirmers:
            raise RequestRefused(
                t("{username} has not confirmed export {id}: one of the people who confirmed "
                  "it writes the discs", username=actor.username, id=request_id)
            )  # fmt: skip
        request = session.get(Request, request_id)
        assert request is not None and request.decided_at_utc is not None  # start_export did
        clips = commands.clips_of(session, request)
        for clip in clips:
            session.expunge(clip)
        rows = session.execute(
            select(Staff.username, Staff.display_name).where(Staff.username.in_(confirmers))
        )
        names = {username: display_name for username, display_name in rows}
        case = request.case_number or next((c.case_number for c in clips if c.case_number), "")
        case = case or t("clip {clip}, no case", clip=request.clip_id)
        approved_at = request.decided_at_utc
    people = tuple(f"{names.get(u, u)} ({u})" for u in confirmers)
    images = write_export(
        db,
        store,
        out_dir,
        clips=clips,
        case=case,
        unit=settings.dock.agency,
        maker=people[0],
        extractor=people[1],
        confirmers=(people[0], people[1]),
        approval_id=str(request_id),
        approved_at_utc=approved_at,
        now=commands.clock.now_utc(),
        actor=actor.journal_name,
        time_zone=settings.people.time_zone,
    )
    with db.transaction() as session:
        request = session.get(Request, request_id)
        assert request is not None and request.kind == Kind.EXPORT
        written = ", ".join(p.name for p in images.paths)
        commands.carried_out(session, actor, request, t("written: {images}", images=written))
    return images
