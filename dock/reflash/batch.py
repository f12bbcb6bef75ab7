"""Every docked recorder brought to the newest staged firmware, one after another.

Why one after another: each bay's reflash runs in its own bay thread over its own link, and
a technician watches the lights go REFLASHING bay by bay; a recorder that refuses or fails
is reported and the batch goes on to the next. Which image: the newest staged one for the
recorder's model (its model and version as the ledger last saw them at identify), or the
version asked for; a recorder already on it or newer is skipped, and so is a bay that has not
reached its verdict. The batch, each bay's result and the totals are journaled in the
technician's name; the CLI and the pages both ask for it through the control socket
(op firmware_update_all), so there is one batch, not one per face.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from dock import journal, ledger
from dock.bays.states import CHECKED
from dock.errors import DockError
from dock.events import FirmwareBatchFinished, FirmwareBatchResult, FirmwareBatchStarted
from dock.i18n import t
from dock.people.roles import Actor, Role, require
from dock.reflash.session import TransferBroken
from dock.reflash.staging import StagedImage, Staging, newest
from firmware_bridge.firmware.update import parse_version

if TYPE_CHECKING:
    from dock.service import DockService

SUCCEEDED, REFUSED, FAILED, SKIPPED = "succeeded", "refused", "failed", "skipped"
OUTCOMES = (SUCCEEDED, REFUSED, FAILED, SKIPPED)
# Message ids of their own: the pages' "refused" is a request's (不予批准).
OUTCOME_WORDS = {
    SUCCEEDED: "update succeeded",
    REFUSED: "update refused",
    FAILED: "update failed",
    SKIPPED: "update skipped",
}


@dataclass(frozen=True)
class BayResult:
    bay: int
    serial: str
    from_version: str
    to_version: str  # "" when no image was chosen
    outcome: str  # one of OUTCOMES
    reason: str

    def line(self) -> str:
        versions = self.from_version + (f" -> {self.to_version}" if self.to_version else "")
        return t(
            "bay {bay} {serial} {versions}: {outcome}: {reason}",
            bay=self.bay,
            serial=self.serial,
            versions=versions,
            outcome=t(OUTCOME_WORDS[self.outcome]),
            reason=self.reason,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> BayResult:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


def counts(results: list[BayResult]) -> dict[str, int]:
    """How many bays ended each way, by outcome name."""
    counted = Counter(r.outcome for r in results)
    return {o: counted[o] for o in OUTCOMES}


def totals(results: list[BayResult]) -> str:
    return t(
        "{succeeded} succeeded, {refused} refused, {failed} failed, {skipped} skipped",
        **counts(results),
    )


def update_all(
    service: DockService,
    staging: Staging,
    technician: Actor,
    *,
    model: str | None = None,
    version: str | None = None,
) -> list[BayResult]:
    """Update every docked recorder of `model` (any) to `version` (the newest); the report."""
    require(technician, Role.TECHNICIAN)
    docked = [n for n, w in sorted(service.bays.items()) if w.machine.device is not None]
    journal.record(
        service.db,
        FirmwareBatchStarted(
            technician=technician.journal_name,
            model=model or "",
            version=version or "",
            bays=tuple(docked),
        ),
        actor=technician.journal_name,
        clock=service.clock,
    )
    staged = staging.images()  # checked once for the batch; each is checked again when sent
    results = []
    for number in docked:
        result = _update_bay(service, staging, staged, technician, number, model, version)
        journal.record(
            service.db,
            FirmwareBatchResult(
                bay=result.bay,
                device=result.serial,
                from_version=result.from_version,
                to_version=result.to_version,
                outcome=result.outcome,
                reason=result.reason,
            ),
            actor=technician.journal_name,
            clock=service.clock,
        )
        results.append(result)
    n = counts(results)
    finished = FirmwareBatchFinished(
        succeeded=n[SUCCEEDED], refused=n[REFUSED], failed=n[FAILED], skipped=n[SKIPPED]
    )
    journal.record(service.db, finished, actor=technician.journal_name, clock=service.clock)
    return results


def _update_bay(
    service: DockService,
    staging: Staging,
    images: list[StagedImage],
    technician: Actor,
    number: int,
    model: str | None,
    version: str | None,
) -> BayResult:
    worker = service.bays[number]
    serial = worker.machine.device or ""
    with service.db.transaction() as session:
        device = ledger.find_device(session, serial)
        known = (device.model, device.firmware_version) if device is not None else None
    if known is None:
        return BayResult(number, serial, "", "", SKIPPED, t("not in the ledger: register it first"))
    its_model, running = known

    def result(outcome: str, reason: str, to_version: str = "") -> BayResult:
        return BayResult(number, serial, running, to_version, outcome, reason)

    if model is not None and its_model != model:
        return result(SKIPPED, t("model {model}, not {wanted}", model=its_model, wanted=model))
    if worker.machine.state not in CHECKED:
        return result(
            SKIPPED, t("the bay is {state}, not checked yet", state=t(str(worker.machine.state)))
        )
    staged = newest(images, its_model, version)
    if staged is None:
        wanted = f"{its_model} {version}" if version else its_model
        return result(SKIPPED, t("no staged image for {wanted}", wanted=wanted))
    if (parse_version(running) or (0,)) >= (parse_version(staged.version) or (0,)):
        return result(SKIPPED, t("already runs {version}", version=running), staged.version)
    try:
        outcome = worker.reflash(staging.load(staged.sha256), technician)
    except TransferBroken as err:
        return result(FAILED, str(err), staged.version)
    except DockError as err:  # the recorder or the dock said no: nothing was changed
        return result(REFUSED, str(err), staged.version)
    if outcome.is_confirmed:
        running_now = t("running {version}", version=outcome.running_version)
        return result(SUCCEEDED, running_now, staged.version)
    return result(
        FAILED,
        t("failed its self-test: rolled back to {version}", version=outcome.running_version),
        staged.version,
    )
