"""`dock retention|hold|purge|sample`: retention ends, holds, the one purge, sampling audits.

A purge and the lifting of a hold name their approver (`--approved-by`), whose roles are
read from the staff register; dock.retention.approval decides whether they may approve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dock.cli.common import (
    app,
    cli_actor,
    one_line_errors,
    open_transaction,
    settings_of,
    utc_now,
)
from dock.cli.interruption_commands import BadTime, parse_utc
from dock.errors import DockError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dock.retention.approval import Approval

retention_app = typer.Typer(help="How long each clip is kept, and why.", no_args_is_help=True)
hold_app = typer.Typer(help="Long-term holds on a clip or a case.", no_args_is_help=True)
purge_app = typer.Typer(help="Remove expired footage (approved, undoable).")
sample_app = typer.Typer(help="Supervisors' sampling audits.", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
app.add_typer(hold_app, name="hold")
app.add_typer(purge_app, name="purge")
app.add_typer(sample_app, name="sample")

Why = Annotated[str, typer.Option("--why", help="Why (journaled).")]
ApprovedBy = Annotated[
    str | None, typer.Option("--approved-by", help="The approving staff member's username.")
]


class UnknownApprover(DockError):
    """--approved-by named nobody in the staff register."""


def approval_of(session: Session, username: str | None) -> Approval | None:
    """The approver's roles from the staff register (issue 13's staff table)."""
    from sqlalchemy import text

    from dock.retention.approval import Approval

    if username is None:
        return None
    has_staff = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'staff'")
    ).first()
    roles = (
        session.execute(
            text("SELECT roles FROM staff WHERE username = :u"), {"u": username}
        ).scalar()
        if has_staff
        else None
    )
    if roles is None:
        raise UnknownApprover(f"{username} is not in the staff register; add them first")
    return Approval(username, frozenset(r for r in str(roles).split(",") if r))


# -- retention ------------------------------------------------------------------------------


@retention_app.command("refresh")
@one_line_errors
def refresh_command(ctx: typer.Context) -> None:
    """Compute the retention end of every clip that has none yet."""
    from dock.retention import policy

    settings = settings_of(ctx)
    with open_transaction(ctx) as session:
        done = policy.compute_missing(session, settings.retention, cli_actor(), utc_now())
    typer.echo(f"retention ends computed: {done}")


@retention_app.command("classify")
@one_line_errors
def classify_command(
    ctx: typer.Context,
    clip_id: Annotated[int, typer.Argument(help="The clip's id.")],
    why: Why,
    case: Annotated[str | None, typer.Option("--case", help="Its case number.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Its category.")] = None,
) -> None:
    """Set a clip's case and category; its retention end follows (journaled)."""
    from dock.retention import policy

    settings = settings_of(ctx)
    with open_transaction(ctx) as session:
        end = policy.reclassify(
            session,
            settings.retention,
            clip_id,
            case_number=case,
            category=category,
            actor=cli_actor(),
            why=why,
            now=utc_now(),
        )
    typer.echo(f"clip {clip_id}: kept until {end.end or 'its case file closes'} ({end.rule})")


@retention_app.command("case")
@one_line_errors
def case_command(
    ctx: typer.Context,
    case_number: Annotated[str, typer.Argument(help="The case number.")],
    why: Why,
    until: Annotated[str | None, typer.Option("--until", help="Kept until (UTC).")] = None,
) -> None:
    """Set how long a case file is kept (no --until: open, kept without end)."""
    from dock.retention import policy

    settings = settings_of(ctx)
    until_utc = None if until is None else parse_utc(until, "--until")
    with open_transaction(ctx) as session:
        ends = policy.set_case_retention(
            session,
            settings.retention,
            case_number,
            until_utc,
            actor=cli_actor(),
            why=why,
            now=utc_now(),
        )
    typer.echo(f"case {case_number}: {len(ends)} clips recomputed")


# -- holds ----------------------------------------------------------------------------------


@hold_app.command("place")
@one_line_errors
def place_command(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", help="dispute, obstruction, major, by_hand.")],
    note: Annotated[str, typer.Option("--note", help="Why the footage is held.")],
    clip_id: Annotated[int | None, typer.Option("--clip", help="One clip's id.")] = None,
    case: Annotated[str | None, typer.Option("--case", help="Every clip of a case.")] = None,
) -> None:
    """Hold a clip or a case beyond any retention period."""
    from dock.retention.holds import HoldError, HoldKind, place_hold

    if kind not in HoldKind.__members__.values():
        raise HoldError(f"--kind is one of {', '.join(k.value for k in HoldKind)}")
    with open_transaction(ctx) as session:
        hold = place_hold(
            session,
            clip_id=clip_id,
            case_number=case,
            kind=HoldKind(kind),
            note=note,
            actor=cli_actor(),
            now=utc_now(),
        )
        hold_id = hold.id
    typer.echo(f"hold {hold_id} placed")


@hold_app.command("lift")
@one_line_errors
def lift_command(
    ctx: typer.Context,
    hold_id: Annotated[int, typer.Argument(help="The hold's id.")],
    why: Why,
    approved_by: ApprovedBy = None,
) -> None:
    """Lift a hold; needs an approval (retention.hold_lift_approver_roles)."""
    from dock.retention.holds import lift_hold

    settings = settings_of(ctx)
    with open_transaction(ctx) as session:
        lift_hold(
            session,
            settings.retention,
            hold_id,
            approval=approval_of(session, approved_by),
            why=why,
            actor=cli_actor(),
            now=utc_now(),
        )
    typer.echo(f"hold {hold_id} lifted")


@hold_app.command("list")
@one_line_errors
def list_command(ctx: typer.Context) -> None:
    """The active holds."""
    from dock.retention.holds import active_holds

    with open_transaction(ctx) as session:
        lines = [
            f"hold {h.id}: {'clip ' + str(h.clip_id) if h.clip_id else 'case ' + str(h.case_number)}"
            f" {h.kind} by {h.placed_by} {h.placed_at_utc:%Y-%m-%d}: {h.note}"
            for h in active_holds(session)
        ]
    typer.echo("\n".join(lines) or "no active holds")


# -- purge ----------------------------------------------------------------------------------


@purge_app.callback(invoke_without_command=True)
@one_line_errors
def purge_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List only.")] = False,
    approved_by: ApprovedBy = None,
) -> None:
    """Remove expired, unheld footage not linked to a case; kept aside for undo_days."""
    if ctx.invoked_subcommand is not None:
        return
    from dock.offload.store import EvidenceStore
    from dock.retention import policy, purge

    settings = settings_of(ctx)
    now, actor = utc_now(), cli_actor()
    with open_transaction(ctx) as session:
        policy.compute_missing(session, settings.retention, actor, now)
        if dry_run:
            found = purge.expired_clips(session, now)
        else:
            store = EvidenceStore(settings.dock.data_dir / "store", sweeps_temp_files=False)
            purge.finalize(session, store, actor=actor, now=now)
            approval = approval_of(session, approved_by)
            found = purge.purge(
                session, store, settings.retention, approval=approval, actor=actor, now=now
            )
    lines = [e.line() for e in found]
    verb = "would remove" if dry_run else "removed (undo with `dock purge undo CLIP`)"
    typer.echo("\n".join([*lines, f"{verb}: {len(found)} clips"]))


@purge_app.command("undo")
@one_line_errors
def undo_command(
    ctx: typer.Context, clip_id: Annotated[int, typer.Argument(help="The clip's id.")], why: Why
) -> None:
    """Put a purged clip back while its undo window is open."""
    from dock.offload.store import EvidenceStore
    from dock.retention import purge

    settings = settings_of(ctx)
    with open_transaction(ctx) as session:
        store = EvidenceStore(settings.dock.data_dir / "store", sweeps_temp_files=False)
        purge.undo(session, store, clip_id, why=why, actor=cli_actor(), now=utc_now())
    typer.echo(f"clip {clip_id} is back in the store")


@purge_app.command("list")
@one_line_errors
def tombstones_command(ctx: typer.Context) -> None:
    """Every tombstone: what was removed, when, under which rule, approved by whom."""
    from dock.retention import purge

    with open_transaction(ctx) as session:
        lines = [
            f"clip {t.clip_id} {t.sha256}: removed {t.removed_at_utc:%Y-%m-%d %H:%M} under "
            f"{t.rule}, approved by {t.approved_by}; "
            + ("gone for good" if t.finalized_at_utc else f"undo until {t.undo_until:%Y-%m-%d}")
            for t in purge.tombstones(session)
        ]
    typer.echo("\n".join(lines) or "nothing purged")


# -- sampling audits ------------------------------------------------------------------------


@sample_app.command("draw")
@one_line_errors
def draw_command(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Period start (UTC).")],
    until: Annotated[str, typer.Option("--until", help="Period end, excluded (UTC).")],
    seed: Annotated[int | None, typer.Option("--seed", help="Redraw a recorded sample.")] = None,
) -> None:
    """Draw a seeded sample of the period's clips at retention.sample_share, per officer."""
    from dock.retention import sampling

    start, end = parse_utc(since, "--since"), parse_utc(until, "--until")
    if start >= end:
        raise BadTime("--since must be before --until")
    settings = settings_of(ctx)
    with open_transaction(ctx) as session:
        sample, chosen = sampling.draw_sample(
            session, settings.retention, start, end, seed=seed, actor=cli_actor(), now=utc_now()
        )
        sample_id, seed_used = sample.id, sample.seed
    typer.echo(f"sample {sample_id} (seed {seed_used}): clips {' '.join(map(str, chosen))}")


@sample_app.command("show")
@one_line_errors
def show_command(
    ctx: typer.Context, sample_id: Annotated[int, typer.Argument(help="The sample's id.")]
) -> None:
    """A sample's clips and the checklist to score them on."""
    from dock.retention import sampling

    settings = settings_of(ctx)
    with open_transaction(ctx) as session:
        clips = sampling.sample_clips(session, sample_id)
    typer.echo(f"sample {sample_id}: clips {' '.join(map(str, clips)) or '(none)'}")
    typer.echo("checklist: " + "; ".join(settings.retention.checklist))


@sample_app.command("score")
@one_line_errors
def score_command(
    ctx: typer.Context,
    sample_id: Annotated[int, typer.Argument(help="The sample's id.")],
    clip_id: Annotated[int, typer.Argument(help="The sampled clip's id.")],
    passed: Annotated[list[str] | None, typer.Option("--pass", help="A met item.")] = None,
    failed: Annotated[list[str] | None, typer.Option("--fail", help="A missed item.")] = None,
    comment: Annotated[str, typer.Option("--comment", help="The auditor's comment.")] = "",
) -> None:
    """Score one sampled clip against every checklist item (journaled)."""
    from dock.retention import sampling

    settings = settings_of(ctx)
    with open_transaction(ctx) as session:
        sampling.score(
            session,
            settings.retention,
            sample_id,
            clip_id,
            passed=tuple(passed or ()),
            failed=tuple(failed or ()),
            comment=comment,
            actor=cli_actor(),
            now=utc_now(),
        )
    typer.echo(f"sample {sample_id} clip {clip_id}: scored")
