"""The one command layer: every face hands it an authenticated Actor and a request.

A request to view, copy or export one clip or one case moves requested -> reviewed ->
approved | refused -> carried out, each step a row of its own in the journal, in the same
transaction as the change. Which role reviews and which approves each kind is the agency's
configuration ([people] reviewers, approvers); the rules that do not vary live here, and
only here: nobody reviews or approves their own request, nothing is approved before it is
reviewed, a marked clip needs the leader (who names the mark to let it leave), an approval
lasts approval_hours and serves its one kind and its one clip or case, and an export needs
export_confirmations distinct people to confirm it at the dock. Retention adds two kinds:
a purge (no clip or case: it covers what had expired when it was asked for) and the lifting
of a hold (the hold's clip or case); the retention code carries them out with `approved`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import select

from dock import journal
from dock.db.models import Clip
from dock.errors import DockError
from dock.events import RequestStepTaken
from dock.i18n import local_time, t
from dock.people.marks import marks_of
from dock.people.models import Confirmation, Request, Staff
from dock.people.roles import Actor, Permission, Role, require, roles_from

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

    from dock.clock import Clock
    from dock.config import PeopleSettings


class Kind(StrEnum):
    VIEW = "view"
    COPY = "copy"
    EXPORT = "export"
    PURGE = "purge"  # what had expired by the request's time (dock.retention.purge)
    LIFT_HOLD = "lift_hold"  # one hold (dock.retention.holds)


class Step(StrEnum):
    REQUESTED = "requested"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    REFUSED = "refused"
    CONFIRMED = "confirmed"  # one person's confirmation of an export
    CARRIED_OUT = "carried_out"


class RequestRefused(DockError):
    """A step the rules do not allow: the message names the rule and what to do."""


class NoLiveApproval(RequestRefused):
    """No approval of this kind for this clip that is still in its time."""


@dataclass(frozen=True)
class Commands:
    settings: PeopleSettings
    clock: Clock

    # -- the steps ------------------------------------------------------------------------

    def request(
        self,
        session: Session,
        actor: Actor,
        kind: str,
        *,
        reason: str,
        clip_id: int | None = None,
        case_number: str | None = None,
    ) -> Request:
        require(actor, Permission.REQUEST)
        kind = _kind(kind)
        if not reason.strip():
            raise RequestRefused(t("say why: a request needs a reason"))
        if kind == Kind.PURGE:
            if clip_id is not None or case_number is not None:
                raise RequestRefused(t("a purge covers what has expired: name no clip or case"))
        elif (clip_id is None) == (case_number is None):
            raise RequestRefused(t("a request is for one clip or one case, not both or neither"))
        elif not self._clip_ids(session, clip_id, case_number):
            raise RequestRefused(t("no such clip or case; check the number"))
        now = self.clock.now_utc()
        request = Request(
            kind=kind,
            clip_id=clip_id,
            case_number=case_number,
            reason=reason,
            state=Step.REQUESTED,
            requested_by=actor.username,
            requested_at_utc=now,
            decision_note="",
            marks_named="",
        )
        session.add(request)
        session.flush()
        self._journal(session, actor, request, Step.REQUESTED, reason)
        return request

    def review(
        self, session: Session, actor: Actor, request_id: int, *, note: str = "", is_passed: bool
    ) -> Request:
        request = self._get(session, request_id, Step.REQUESTED)
        self._must_hold(actor, self.settings.reviewers[request.kind], request)
        now = self.clock.now_utc()
        request.reviewed_by, request.reviewed_at_utc = actor.username, now
        if not is_passed:
            return self._refuse(session, actor, request, note)
        request.state = Step.REVIEWED
        self._journal(session, actor, request, Step.REVIEWED, note)
        return request

    def approve(
        self,
        session: Session,
        actor: Actor,
        request_id: int,
        *,
        note: str = "",
        marks_named: Iterable[str] = (),
    ) -> Request:
        request = self._get(session, request_id, Step.REVIEWED)
        self._must_hold(actor, self.settings.approvers[request.kind], request)
        marks = self._marks(session, request)
        named = set(marks_named)
        if marks:
            if Role.LEADER not in actor.roles:
                raise RequestRefused(
                    t("this is marked {marks}: only a leader may approve it",
                      marks=", ".join(sorted(marks)))
                )  # fmt: skip
            if request.kind == Kind.VIEW:
                self._requester_may_view(session, request, marks)
            elif not marks <= named:
                raise RequestRefused(
                    t("this is marked {marks}: the leader's approval must name each mark",
                      marks=", ".join(sorted(marks)))
                )  # fmt: skip
        now = self.clock.now_utc()
        request.state = Step.APPROVED
        request.decided_by, request.decided_at_utc, request.decision_note = (
            actor.username,
            now,
            note,
        )
        request.marks_named = ",".join(sorted(named & marks))
        request.expires_at_utc = now + timedelta(hours=self.settings.approval_hours)
        self._journal(session, actor, request, Step.APPROVED, note)
        return request

    def refuse(self, session: Session, actor: Actor, request_id: int, *, note: str) -> Request:
        request = self._get(session, request_id, Step.REVIEWED)
        self._must_hold(actor, self.settings.approvers[request.kind], request)
        return self._refuse(session, actor, request, note)

    def confirm_export(self, session: Session, actor: Actor, request_id: int) -> list[str]:
        """One person's confirmation at the dock; returns everyone who has confirmed so far."""
        require(actor, Permission.CONFIRM_EXPORT)
        request = self._live(session, request_id, Kind.EXPORT)
        confirmed = self.confirmations(session, request.id)
        if actor.username in confirmed:
            raise RequestRefused(
                t("{username} has confirmed already: a second person must confirm",
                  username=actor.username)
            )  # fmt: skip
        now = self.clock.now_utc()
        session.add(Confirmation(request_id=request.id, username=actor.username, at_utc=now))
        self._journal(session, actor, request, Step.CONFIRMED, "")
        return [*confirmed, actor.username]

    def start_export(self, session: Session, actor: Actor, request_id: int) -> tuple[str, ...]:
        """Check an export may be written now; returns the confirmers (maker and extractors)."""
        request = self._live(session, request_id, Kind.EXPORT)
        confirmed = self.confirmations(session, request.id)
        needed = self.settings.export_confirmations
        if len(confirmed) < needed:
            raise RequestRefused(
                t("an export needs {needed} different people to confirm it; {have} have",
                  needed=needed, have=len(confirmed))
            )  # fmt: skip
        return tuple(confirmed)

    def approved(self, session: Session, actor: Actor, request_id: int, kind: str) -> Request:
        """The requester's own approved, unexpired request of this kind, to carry out now."""
        request = self._live(session, request_id, _kind(kind))
        if request.requested_by != actor.username:
            raise RequestRefused(
                t("request {id} is {username}'s: they carry it out", id=request_id,
                  username=request.requested_by)
            )  # fmt: skip
        return request

    def carried_out(self, session: Session, actor: Actor, request: Request, note: str) -> None:
        """A copy or export is written: the approval is spent (views stay live until expiry)."""
        request.state = Step.CARRIED_OUT
        request.carried_out_at_utc = self.clock.now_utc()
        self._journal(session, actor, request, Step.CARRIED_OUT, note)

    # -- what faces ask -------------------------------------------------------------------

    def live_approval(self, session: Session, actor: Actor, kind: str, clip_id: int) -> Request:
        """The actor's own approved, unexpired request of this kind covering this clip."""
        clip = session.get(Clip, clip_id)
        if clip is None:
            raise NoLiveApproval(t("no such clip; check the number"))
        covers = Request.clip_id == clip_id
        if clip.case_number:
            covers = covers | (Request.case_number == clip.case_number)
        request = session.scalar(
            select(Request)
            .where(
                Request.kind == _kind(kind),
                Request.requested_by == actor.username,
                Request.state == Step.APPROVED,
                Request.expires_at_utc > self.clock.now_utc(),
                covers,
            )
            .order_by(Request.expires_at_utc.desc())
            .limit(1)
        )
        if request is None:
            raise NoLiveApproval(
                t("{username} has no live approval to {kind} clip {clip}; request one and wait "
                  "for its approval", username=actor.username, kind=kind, clip=clip_id)
            )  # fmt: skip
        return request

    def confirmations(self, session: Session, request_id: int) -> list[str]:
        return list(
            session.scalars(
                select(Confirmation.username)
                .where(Confirmation.request_id == request_id)
                .order_by(Confirmation.id)
            )
        )

    def queue(self, session: Session, actor: Actor) -> list[Request]:
        """The requests waiting for this actor: to review, to approve, or to confirm."""
        waiting = []
        for request in session.scalars(
            select(Request)
            .where(Request.state.in_((Step.REQUESTED, Step.REVIEWED, Step.APPROVED)))
            .order_by(Request.id)
        ):
            role = {
                Step.REQUESTED: self.settings.reviewers[request.kind],
                Step.REVIEWED: self.settings.approvers[request.kind],
            }.get(Step(request.state))
            if request.requested_by == actor.username:
                continue
            if role is not None and actor.has(Role(role)):
                waiting.append(request)
            elif request.kind == Kind.EXPORT and request.state == Step.APPROVED:
                waiting += [request] if actor.has(Permission.CONFIRM_EXPORT) else []
        return waiting

    def clips_of(self, session: Session, request: Request) -> list[Clip]:
        """The clips a request covers: its one clip, or every clip of its case, oldest first."""
        ids = self._clip_ids(session, request.clip_id, request.case_number)
        return list(
            session.scalars(
                select(Clip).where(Clip.id.in_(ids)).order_by(Clip.recorded_start_utc, Clip.id)
            )
        )

    # -- helpers --------------------------------------------------------------------------

    def _clip_ids(self, session: Session, clip_id: int | None, case: str | None) -> list[int]:
        if clip_id is not None:
            return [clip_id] if session.get(Clip, clip_id) is not None else []
        if case is None:
            return []  # a purge: it names no clip
        return list(session.scalars(select(Clip.id).where(Clip.case_number == case)))

    def _marks(self, session: Session, request: Request) -> set[str]:
        ids = self._clip_ids(session, request.clip_id, request.case_number)
        cases = {request.case_number} if request.case_number else set()
        cases |= {c for c in session.scalars(select(Clip.case_number).where(Clip.id.in_(ids))) if c}
        return marks_of(session, ids, sorted(cases))

    def _requester_may_view(self, session: Session, request: Request, marks: set[str]) -> None:
        roles = session.scalar(select(Staff.roles).where(Staff.username == request.requested_by))
        held = {r.value for r in roles_from((roles or "").split(",") if roles else [])}
        for mark in sorted(marks):
            if not held & set(self.settings.mark_roles[mark]):
                raise RequestRefused(
                    t("{username} may not be approved to view a clip marked {mark}: the agency "
                      "grants it to {roles}", username=request.requested_by, mark=mark,
                      roles=", ".join(self.settings.mark_roles[mark]))
                )  # fmt: skip

    def _get(self, session: Session, request_id: int, state: Step) -> Request:
        request = session.get(Request, request_id)
        if request is None:
            raise RequestRefused(t("no request {id}; check the number", id=request_id))
        if request.state != state:
            raise RequestRefused(
                t("request {id} is {state}, so it cannot be {step} now; it must be {wanted}",
                  id=request_id, state=request.state, step="acted on", wanted=state.value)
            )  # fmt: skip
        return request

    def _live(self, session: Session, request_id: int, kind: Kind) -> Request:
        request = self._get(session, request_id, Step.APPROVED)
        if request.kind != kind:
            raise RequestRefused(
                t("request {id} is for {kind}, not {wanted}: an approval serves one purpose",
                  id=request_id, kind=request.kind, wanted=kind.value)
            )  # fmt: skip
        assert request.expires_at_utc is not None
        if request.expires_at_utc <= self.clock.now_utc():
            raise NoLiveApproval(
                t("the approval of request {id} expired at {at}; request again",
                  id=request_id, at=local_time(request.expires_at_utc))
            )  # fmt: skip
        return request

    def _must_hold(self, actor: Actor, role: str, request: Request) -> None:
        require(actor, Role(role))
        if actor.username == request.requested_by:
            raise RequestRefused(
                t("{username} made this request: someone else must review and approve it",
                  username=actor.username)
            )  # fmt: skip

    def _refuse(self, session: Session, actor: Actor, request: Request, note: str) -> Request:
        if not note.strip():
            raise RequestRefused(t("say why: a refusal needs a note"))
        request.state = Step.REFUSED
        request.decided_by, request.decided_at_utc = actor.username, self.clock.now_utc()
        request.decision_note = note
        self._journal(session, actor, request, Step.REFUSED, note)
        return request

    def _journal(
        self, session: Session, actor: Actor, request: Request, step: Step, reason: str
    ) -> None:
        happened = RequestStepTaken(
            request_id=request.id,
            kind=request.kind,
            step=step,
            by=actor.username,
            reason=reason,
            clip_id=request.clip_id,
            case_number=request.case_number,
            marks_named=tuple(m for m in request.marks_named.split(",") if m),
            expires_at_utc=request.expires_at_utc if step == Step.APPROVED else None,
        )
        journal.append(session, happened, actor=actor.journal_name, at=self.clock.now_utc())


def _kind(kind: str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise RequestRefused(
            t("unknown request kind {kind}: use view, copy, export, purge or lift_hold",
              kind=kind)
        ) from None  # fmt: skip
