"""`dock retention|hold|purge|sample`: retention ends, holds, the one purge, sampling audits.

Every command signs its person in (--user, a prompt or --password-file, as the people
commands do) and runs in one transaction through dock.retention. A purge and the lifting of
a hold are requests of the command layer: `dock purge --request` or `dock hold lift HOLD`
asks, `dock review` and `dock approve` decide (the roles [people] reviewers and approvers
name for purge and lift_hold), and the requester carries it out once it is approved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dock.cli.common import app, one_line_errors
from dock.cli.interruption_commands import BadTime, parse_utc
from dock.cli.people_commands import PasswordFileOption, UserOption, signed_in
from dock.errors import DockError
from dock.i18n import local_time, t
from dock.people.roles import Permission, require

if TYPE_CHECKING:
    from dock.retention.sampling import Scoring

retention_app = typer.Typer(help="How long each clip is kept, and why.", no_args_is_help=True)
hold_app = typer.Typer(help="Long-term holds on a clip or a case.", no_args_is_help=True)
purge_app = typer.Typer(help="Remove expired footage (approved, undoable).")
sample_app = typer.Typer(help="Supervisors' sampling audits.", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
app.add_typer(hold_app, name="hold")
app.add_typer(purge_app, name="purge")
app.add_typer(sample_app, name="sample")

Why = Annotated[str, typer.Option("--why", help="Why (journaled).")]


class PurgeOptions(DockError):
    """`dock purge` was given none, or more than one, of its ways to run."""


# -- retention ------------------------------------------------------------------------------


@retention_app.command("refresh")
@one_line_errors
def refresh_command(
    ctx: typer.Context, user: UserOption = None, password_file: PasswordFileOption = None
) -> None:
    """Compute the retention end of every clip that has none yet."""
    from dock.retention import policy

    with signed_in(ctx, user, password_file) as desk:
        session, settings = desk.session, desk.settings
        done = policy.compute_missing(
            session, settings.retention, desk.actor.journal_name, desk.commands.clock.now_utc()
        )
    typer.echo(t("retention ends computed: {count}", count=done))


@retention_app.command("classify")
@one_line_errors
def classify_command(
    ctx: typer.Context,
    clip_id: Annotated[int, typer.Argument(help="The clip's id.")],
    why: Why,
    case: Annotated[str | None, typer.Option("--case", help="Its case number.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Its category.")] = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Set a clip's case and category; its retention end follows (journaled)."""
    from dock.retention import policy

    with signed_in(ctx, user, password_file) as desk:
        require(desk.actor, Permission.CLASSIFY)
        session, settings = desk.session, desk.settings
        end = policy.reclassify(
            session,
            settings.retention,
            clip_id,
            case_number=case,
            category=category,
            actor=desk.actor.journal_name,
            why=why,
            now=desk.commands.clock.now_utc(),
        )
    until = end.end or t("its case file closes")
    shown = end.rule.shown()
    typer.echo(t("clip {clip}: kept until {until} ({rule})", clip=clip_id, until=until, rule=shown))


@retention_app.command("case")
@one_line_errors
def case_command(
    ctx: typer.Context,
    case_number: Annotated[str, typer.Argument(help="The case number.")],
    why: Why,
    until: Annotated[str | None, typer.Option("--until", help="Kept until (UTC).")] = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Set how long a case file is kept (no --until: open, kept without end)."""
    from dock.retention import policy

    until_utc = None if until is None else parse_utc(until, "--until")
    with signed_in(ctx, user, password_file) as desk:
        require(desk.actor, Permission.CLASSIFY)
        session, settings = desk.session, desk.settings
        ends = policy.set_case_retention(
            session,
            settings.retention,
            case_number,
            until_utc,
            actor=desk.actor.journal_name,
            why=why,
            now=desk.commands.clock.now_utc(),
        )
    typer.echo(t("case {case}: {count} clips recomputed", case=case_number, count=len(ends)))


# -- holds ----------------------------------------------------------------------------------


@hold_app.command("place")
@one_line_errors
def place_command(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", help="dispute, obstruction, major, by_hand.")],
    note: Annotated[str, typer.Option("--note", help="Why the footage is held.")],
    clip_id: Annotated[int | None, typer.Option("--clip", help="One clip's id.")] = None,
    case: Annotated[str | None, typer.Option("--case", help="Every clip of a case.")] = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Hold a clip or a case beyond any retention period."""
    from dock.retention.holds import place_hold

    with signed_in(ctx, user, password_file) as desk:
        require(desk.actor, Permission.MARK)
        session = desk.session
        hold = place_hold(
            session,
            clip_id=clip_id,
            case_number=case,
            kind=kind,
            note=note,
            actor=desk.actor.journal_name,
            now=desk.commands.clock.now_utc(),
        )
        hold_id = hold.id
    typer.echo(t("hold {hold} placed", hold=hold_id))


@hold_app.command("lift")
@one_line_errors
def lift_command(
    ctx: typer.Context,
    hold_id: Annotated[int, typer.Argument(help="The hold's id.")],
    why: Annotated[str, typer.Option("--why", help="Why (journaled); asks for the lift.")] = "",
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """With --why: request the lifting (lift_hold). Without: lift it once that is approved."""
    from dock.retention import holds

    with signed_in(ctx, user, password_file) as desk:
        if why:
            request = holds.request_lift(desk.session, desk.commands, desk.actor, hold_id, why=why)
            line = t(
                "hold {hold}: request {request} waits for review and approval",
                hold=hold_id,
                request=request.id,
            )
        else:
            holds.lift_hold(desk.session, desk.commands, desk.actor, hold_id)
            line = t("hold {hold} lifted", hold=hold_id)
    typer.echo(line)


@hold_app.command("list")
@one_line_errors
def list_command(
    ctx: typer.Context, user: UserOption = None, password_file: PasswordFileOption = None
) -> None:
    """The active holds."""
    from dock.retention.holds import active_holds

    with signed_in(ctx, user, password_file) as desk:
        session = desk.session
        lines = [
            t(
                "hold {hold}: {what} {kind} by {by} {on}: {note}",
                hold=h.id,
                what=t("clip {clip}", clip=h.clip_id)
                if h.clip_id
                else t("case {case}", case=h.case_number),
                kind=h.kind,
                by=h.placed_by,
                on=f"{h.placed_at_utc:%Y-%m-%d}",
                note=h.note,
            )
            for h in active_holds(session)
        ]
    typer.echo("\n".join(lines) or t("no active holds"))


# -- purge ----------------------------------------------------------------------------------


@purge_app.callback(invoke_without_command=True)
@one_line_errors
def purge_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List only.")] = False,
    request: Annotated[
        bool, typer.Option("--request", help="Ask to purge what has expired (needs --why).")
    ] = False,
    why: Annotated[str, typer.Option("--why", help="Why (journaled).")] = "",
    approved: Annotated[
        int | None, typer.Option("--approved", help="Carry out this approved purge request.")
    ] = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Remove expired, unheld footage not linked to a case; kept aside for undo_days."""
    if ctx.invoked_subcommand is not None:
        return
    from dock.offload.store import EvidenceStore
    from dock.retention import policy, purge

    if [dry_run, request, approved is not None].count(True) != 1:
        raise PurgeOptions(t("give one of --dry-run, --request --why WHY, --approved REQUEST"))
    with signed_in(ctx, user, password_file) as desk:
        session, settings = desk.session, desk.settings
        now, actor = desk.commands.clock.now_utc(), desk.actor.journal_name
        policy.compute_missing(session, settings.retention, actor, now)
        if request:
            asked = purge.request_purge(session, desk.commands, desk.actor, why=why)
            found = purge.expired_clips(session, asked.requested_at_utc)
            verb = t(
                "request {request} (review, approve, then --approved {request}) covers",
                request=asked.id,
            )
        elif dry_run:
            found = purge.expired_clips(session, now)
            verb = t("would remove")
        else:
            assert approved is not None
            store = EvidenceStore(settings.dock.data_dir / "store", sweeps_temp_files=False)
            found = purge.purge(
                session, store, settings.retention, desk.commands, desk.actor, approved
            )
            verb = t("removed (undo with `dock purge undo CLIP`)")
    count = t("{verb}: {count} clips", verb=verb, count=len(found))
    typer.echo("\n".join([*purge.lines(found), count]))


@purge_app.command("undo")
@one_line_errors
def undo_command(
    ctx: typer.Context,
    clip_id: Annotated[int, typer.Argument(help="The clip's id.")],
    why: Why,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Put a purged clip back while its undo window is open."""
    from dock.offload.store import EvidenceStore
    from dock.retention import purge

    with signed_in(ctx, user, password_file) as desk:
        session, settings = desk.session, desk.settings
        store = EvidenceStore(settings.dock.data_dir / "store", sweeps_temp_files=False)
        purge.undo(
            session,
            store,
            clip_id,
            why=why,
            actor=desk.actor.journal_name,
            now=desk.commands.clock.now_utc(),
        )
    typer.echo(t("clip {clip} is back in the store", clip=clip_id))


@purge_app.command("list")
@one_line_errors
def tombstones_command(
    ctx: typer.Context, user: UserOption = None, password_file: PasswordFileOption = None
) -> None:
    """Every tombstone: what was removed, when, under which rule, approved by whom."""
    from dock.retention import purge
    from dock.retention.policy import shown_rule

    with signed_in(ctx, user, password_file) as desk:
        session = desk.session
        lines = [
            t(
                "clip {clip} {sha256}: removed {at} under {rule}, approved by {by}; {fate}",
                clip=tomb.clip_id,
                sha256=tomb.sha256,
                at=f"{tomb.removed_at_utc:%Y-%m-%d %H:%M}",
                rule=shown_rule(tomb.rule),
                by=tomb.approved_by,
                fate=t("gone for good")
                if tomb.finalized_at_utc
                else t("undo until {until}", until=f"{tomb.undo_until:%Y-%m-%d}"),
            )
            for tomb in purge.tombstones(session)
        ]
    typer.echo("\n".join(lines) or t("nothing purged"))


# -- sampling audits ------------------------------------------------------------------------


@sample_app.command("draw")
@one_line_errors
def draw_command(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Period start (UTC).")],
    until: Annotated[str, typer.Option("--until", help="Period end, excluded (UTC).")],
    seed: Annotated[int | None, typer.Option("--seed", help="Redraw a recorded sample.")] = None,
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Draw a seeded sample of the period's clips at retention.sample_share, per officer."""
    from dock.retention import sampling

    start, end = parse_utc(since, "--since"), parse_utc(until, "--until")
    if start >= end:
        raise BadTime(t("--since must be before --until"))
    with signed_in(ctx, user, password_file) as desk:
        sampling.may_audit(desk.actor)
        session, settings = desk.session, desk.settings
        sample, chosen = sampling.draw_sample(
            session,
            settings.retention,
            start,
            end,
            seed=seed,
            actor=desk.actor.journal_name,
            now=desk.commands.clock.now_utc(),
        )
        sample_id, seed_used = sample.id, sample.seed
    clips = " ".join(map(str, chosen))
    typer.echo(
        t(
            "sample {sample} (seed {seed}): clips {clips}",
            sample=sample_id,
            seed=seed_used,
            clips=clips,
        )
    )


@sample_app.command("show")
@one_line_errors
def show_command(
    ctx: typer.Context,
    sample_id: Annotated[int, typer.Argument(help="The sample's id.")],
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """A sample's clips, the checklist to score them on and each score given (a rescore
    naming the score it replaces)."""
    from dock.retention import sampling

    with signed_in(ctx, user, password_file) as desk:
        session, settings = desk.session, desk.settings
        sampling.may_audit(desk.actor)
        clips = sampling.sample_clips(session, sample_id)
        scorings = sampling.scorings(session, sample_id)
    shown = " ".join(map(str, clips)) or t("(none)")
    typer.echo(t("sample {sample}: clips {clips}", sample=sample_id, clips=shown))
    typer.echo(t("checklist: {items}", items="; ".join(settings.retention.checklist)))
    for clip_id in clips:
        for s in scorings.get(clip_id, []):
            typer.echo(_scoring_line(clip_id, s))


def _scoring_line(clip_id: int, s: Scoring) -> str:
    met = sum(is_passed for _, is_passed in s.answers)
    line = t(
        "clip {clip}: {met}/{items} met, by {auditor} {at} (journal row {entry})",
        clip=clip_id, met=met, items=len(s.answers), auditor=s.auditor,
        at=local_time(s.at_utc), entry=s.entry_id,
    )  # fmt: skip
    if s.replaces is not None:
        line += t("; rescore, replaces journal row {entry}", entry=s.replaces)
    if s.replaced_by is not None:
        line += t("; replaced by journal row {entry}, not counted", entry=s.replaced_by)
    return line + (f": {s.comment}" if s.comment else "")


@sample_app.command("score")
@one_line_errors
def score_command(
    ctx: typer.Context,
    sample_id: Annotated[int, typer.Argument(help="The sample's id.")],
    clip_id: Annotated[int, typer.Argument(help="The sampled clip's id.")],
    passed: Annotated[list[str] | None, typer.Option("--pass", help="A met item.")] = None,
    failed: Annotated[list[str] | None, typer.Option("--fail", help="A missed item.")] = None,
    comment: Annotated[str, typer.Option("--comment", help="The auditor's comment.")] = "",
    user: UserOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Score one sampled clip against every checklist item (journaled); scoring it again
    is a rescore that replaces your earlier score and needs --comment saying why."""
    from dock.retention import sampling

    with signed_in(ctx, user, password_file) as desk:
        sampling.may_audit(desk.actor)
        session, settings = desk.session, desk.settings
        entry = sampling.score(
            session,
            settings.retention,
            sample_id,
            clip_id,
            passed=tuple(passed or ()),
            failed=tuple(failed or ()),
            comment=comment,
            actor=desk.actor.journal_name,
            now=desk.commands.clock.now_utc(),
        )
    typer.echo(
        t(
            "sample {sample} clip {clip}: scored (journal row {entry})",
            sample=sample_id,
            clip=clip_id,
            entry=entry,
        )
    )
