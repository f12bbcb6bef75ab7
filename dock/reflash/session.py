"""One recorder's firmware update as journaled steps, for the CLI, the batch and the bay.

Who: a technician (an Actor with the `technician` role once dock/people checks credentials;
their name here). What the journal keeps: a started row with both versions, progress, every
refusal or lost link with the bytes the recorder holds (a new try resumes there), a
downgrade's two names, and how the test boot ended. The bay shows REFLASHING while it runs
and goes back to identifying after, so the docking goes on with identify and check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from dock import journal
from dock.bays.machine import BayMachine
from dock.bays.states import Trigger
from dock.clock import Clock
from dock.db.database import Database
from dock.errors import DockError
from dock.events import (
    Event,
    ReflashDowngradeApproved,
    ReflashFinished,
    ReflashProgress,
    ReflashStarted,
    ReflashStopped,
)
from dock.i18n import t
from dock.reflash.transfer import send_image
from firmware_bridge import messages
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import RecorderError, Refused
from firmware_bridge.firmware.update import parse_version
from firmware_bridge.image import Image

log = logging.getLogger(__name__)

PROGRESS_EVERY_BYTES = 256 * 1024  # a journal row per quarter MiB: the light's steps, not noise


class ReflashError(DockError):
    """A reflash that did not happen; the message says why and what to do."""


class DowngradeRefused(ReflashError):
    pass


class ImageRefused(ReflashError):
    """The recorder said no to the image (its model, its signature, its minimum version)."""


class TransferBroken(ReflashError):
    """The link went during the transfer: a new try resumes where the recorder stopped."""


@dataclass(frozen=True)
class ReflashOutcome:
    serial: str
    from_version: str
    to_version: str
    running_version: str
    result: str  # "confirmed" or "rolled back"
    resumed_from_bytes: int
    sent_bytes: int

    @property
    def is_confirmed(self) -> bool:
        return self.result == "confirmed"

    def summary(self) -> str:
        """What a technician reads: from which version to which, and how the boot went."""
        return t(
            "recorder {serial} {from_version} -> {to_version}: {result}, running {running}",
            serial=self.serial,
            from_version=self.from_version,
            to_version=self.to_version,
            result=t(self.result),
            running=self.running_version,
        )


class Reflash:
    """Runs updates for one dock: the database, the clock and who is doing it."""

    def __init__(self, db: Database, clock: Clock, *, technician: str) -> None:
        if not technician.strip():
            raise ReflashError("a reflash needs a technician's name: give --technician NAME")
        self.db = db
        self.clock = clock
        self.technician = technician

    def _journal(self, *events: Event) -> None:
        at = self.clock.now_utc()
        with self.db.transaction() as session:
            for happened in events:
                journal.append(session, happened, actor=self.technician, at=at)

    def run(
        self,
        open_client: Callable[[], RecorderClient],
        key_for: Callable[[str], bytes],
        image: Image,
        *,
        bay: BayMachine | None = None,
        downgrade_approved_by: str | None = None,
    ) -> ReflashOutcome:
        """Update the recorder `open_client` reaches; ReflashError when it did not happen.

        `key_for(serial)` is the key the recorder was paired with (the privileged frames
        come after its proof).
        """
        number = bay.number if bay is not None else None
        with open_client() as client:
            client.hello()
            identity = client.identify()
            serial, from_version = identity.device_serial, identity.firmware_version
            key = key_for(serial)
            client.authenticate(key)
            allow_downgrade = self._check_downgrade(
                number, serial, from_version, image, downgrade_approved_by
            )
            progress = _Progress(self, number, serial)
            if bay is not None:
                bay.move(Trigger.REFLASH_STARTED, device=serial, reason=f"reflash {image.version}")
            try:
                transfer = send_image(
                    client,
                    image,
                    allow_downgrade=allow_downgrade,
                    on_begin=lambda resumed: self._journal(
                        ReflashStarted(
                            bay=number,
                            device=serial,
                            technician=self.technician,
                            from_version=from_version,
                            to_version=image.version,
                            image_sha256=image.sha256.hex(),
                            resumed_from_bytes=resumed,
                        )
                    ),
                    on_progress=progress.note,
                )
            except RecorderError as err:
                reason = _stop_reason(err, progress.done_bytes)
                self._journal(
                    ReflashStopped(
                        bay=number,
                        device=serial,
                        to_version=image.version,
                        reason=reason,
                        done_bytes=progress.done_bytes,
                    )
                )
                if bay is not None and isinstance(err, Refused):
                    bay.move(Trigger.REFLASH_DONE, reason=reason)
                kind = ImageRefused if isinstance(err, Refused) else TransferBroken
                raise kind(t("recorder {serial}: {reason}", serial=serial, reason=reason)) from None
            # The recorder restarts into a test boot; a new Hello starts the next insertion.
            client.hello()
            client.authenticate(key)
            state = client.firmware_status()
        result = "confirmed" if state.last_result == messages.FIRMWARE_CONFIRMED else "rolled back"
        finished = ReflashFinished(
            bay=number,
            device=serial,
            to_version=image.version,
            running_version=state.running_version,
            result=result,
        )
        self._journal(finished)
        if bay is not None:
            bay.move(Trigger.REFLASH_DONE, reason=_bay_reason(finished))
        log.info("recorder %s: firmware %s %s", serial, image.version, result)
        return ReflashOutcome(
            serial,
            from_version,
            image.version,
            state.running_version,
            result,
            transfer.resumed_from_bytes,
            transfer.sent_bytes,
        )

    def _check_downgrade(
        self,
        bay: int | None,
        serial: str,
        from_version: str,
        image: Image,
        approved_by: str | None,
    ) -> bool:
        """True when this is an approved downgrade; DowngradeRefused when it is not approved."""
        running = parse_version(from_version) or (0,)
        if (parse_version(image.version) or (0,)) >= running:
            return False
        if not approved_by or approved_by.strip() == self.technician:
            reason = t(
                "firmware {version} is older than the running {running}: a downgrade needs --force and a second person's --approved-by NAME",
                version=image.version, running=from_version,
            )  # fmt: skip
            self._journal(
                ReflashStopped(
                    bay=bay, device=serial, to_version=image.version, reason=reason, done_bytes=0
                )
            )
            raise DowngradeRefused(t("recorder {serial}: {reason}", serial=serial, reason=reason))
        self._journal(
            ReflashDowngradeApproved(
                bay=bay,
                device=serial,
                from_version=from_version,
                to_version=image.version,
                forced_by=self.technician,
                approved_by=approved_by.strip(),
            )
        )
        return True


class _Progress:
    """Journals progress every PROGRESS_EVERY_BYTES, and remembers how far it got."""

    def __init__(self, reflash: Reflash, bay: int | None, serial: str) -> None:
        self.reflash, self.bay, self.serial = reflash, bay, serial
        self.done_bytes = 0
        self._journaled_bytes = 0

    def note(self, done_bytes: int, total_bytes: int) -> None:
        self.done_bytes = done_bytes
        if done_bytes - self._journaled_bytes >= PROGRESS_EVERY_BYTES or done_bytes == total_bytes:
            self._journaled_bytes = done_bytes
            self.reflash._journal(
                ReflashProgress(
                    bay=self.bay,
                    device=self.serial,
                    done_bytes=done_bytes,
                    total_bytes=total_bytes,
                )
            )


def _stop_reason(err: RecorderError, done_bytes: int) -> str:
    if isinstance(err, Refused):
        said = t("the recorder refused the image: {error}", error=err.error_name)
        return said + (t(" ({detail})", detail=err.detail) if err.detail else "")
    return t(
        "link lost after {count} bytes ({error}); dock it again and the transfer resumes there",
        count=done_bytes,
        error=err,
    )


def _bay_reason(finished: ReflashFinished) -> str:
    if finished.result == "confirmed":
        return f"firmware {finished.to_version} confirmed"
    return (
        f"firmware {finished.to_version} failed its self-test: "
        f"rolled back to {finished.running_version}"
    )
