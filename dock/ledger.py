"""The device ledger (台账): who each recorder belongs to, who holds it, and its history.

The rules (001 art.6, 002 art.4, 003 art.12-13) ask for one named person per recorder and a
record of issue and return. Every change here runs inside the caller's transaction and
appends its journal row there, so the change and its record commit together:

    with db.transaction() as session:  # db = open_database(data_dir, bus)
        ledger.assign(session, "RX-0042", "310115", actor="cli:li", at=clock.now_utc())

The database side does no I/O. Writing the pairing key and the identity record to a
recorder is `pair_recorder` / `write_identity_to_recorder`, which take an already-connected
recorder client and keep each database step in its own short transaction around the link.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from dock import journal
from dock.check import LedgerFacts
from dock.clock import Clock
from dock.db.models import MAINTENANCE_STATES, Assignment, Custody, Device, FirmwareSeen, Officer
from dock.errors import DockError
from dock.events import (
    DeviceAssigned,
    DevicePaired,
    DeviceRegistered,
    FirmwareRecorded,
    MaintenanceChanged,
    OfficerRegistered,
    RecorderIssued,
    RecorderReturned,
)

if TYPE_CHECKING:
    from dock.db.database import Database

PAIRING_KEY_BYTES = 32


class LedgerError(DockError):
    """A ledger change the rules do not allow; the message says what to do instead."""


class UnknownDevice(LedgerError):
    def __init__(self, serial: str) -> None:
        super().__init__(f"recorder {serial} is not registered: register it first")


class UnknownOfficer(LedgerError):
    def __init__(self, officer_number: str) -> None:
        super().__init__(f"officer {officer_number} is not registered: add the officer first")


# -- officers and devices ------------------------------------------------------------------


def register_officer(
    session: Session,
    *,
    officer_number: str,
    name: str,
    unit_number: str,
    unit_name: str,
    actor: str,
    at: datetime,
) -> Officer:
    if not officer_number.strip() or not name.strip():
        raise LedgerError("an officer needs a number (警号) and a name")
    if _officer(session, officer_number) is not None:
        raise LedgerError(f"officer {officer_number} is already registered")
    officer = Officer(
        officer_number=officer_number,
        name=name,
        unit_number=unit_number,
        unit_name=unit_name,
        registered_at=at,
    )
    session.add(officer)
    event = OfficerRegistered(
        officer_number=officer_number, name=name, unit_number=unit_number, unit_name=unit_name
    )
    journal.append(session, event, actor=actor, at=at)
    return officer


def register_device(
    session: Session, *, serial: str, model: str, firmware_version: str, actor: str, at: datetime
) -> Device:
    """Add a recorder with a fresh random pairing key (device.pairing_key), not yet paired.

    The key is stored before it is written to the recorder, so a crash in between leaves a
    key the dock knows, never a recorder locked with a key nobody has.
    """
    if not serial.strip():
        raise LedgerError("a recorder needs its serial number")
    if find_device(session, serial) is not None:
        raise LedgerError(f"recorder {serial} is already registered")
    device = Device(
        serial=serial,
        model=model,
        firmware_version=firmware_version,
        pairing_key=secrets.token_bytes(PAIRING_KEY_BYTES),
        is_paired=False,
        maintenance_state="in_service",
        registered_at=at,
    )
    session.add(device)
    session.flush()
    session.add(FirmwareSeen(device_id=device.id, version=firmware_version, seen_at=at))
    event = DeviceRegistered(device=serial, model=model, firmware_version=firmware_version)
    journal.append(session, event, actor=actor, at=at)
    return device


def mark_paired(session: Session, serial: str, *, actor: str, at: datetime) -> Device:
    """Record that the recorder accepted its pairing key."""
    device = get_device(session, serial)
    device.is_paired = True
    journal.append(session, DevicePaired(device=serial), actor=actor, at=at)
    return device


def assign(
    session: Session, serial: str, officer_number: str, *, actor: str, at: datetime
) -> Assignment:
    """Make `officer_number` the one person responsible for the recorder from `at` on."""
    device = get_device(session, serial)
    officer = get_officer(session, officer_number)
    if device.maintenance_state == "retired":
        raise LedgerError(f"recorder {serial} is retired: it cannot be assigned")
    current = _open_assignment(session, device)
    if current is not None and current.officer_id == officer.id:
        return current
    previous = None
    if current is not None:
        current.assigned_to = at
        previous = current.officer.officer_number
    assignment = Assignment(device_id=device.id, officer_id=officer.id, assigned_from=at)
    session.add(assignment)
    event = DeviceAssigned(
        device=serial, officer_number=officer_number, previous_officer_number=previous
    )
    journal.append(session, event, actor=actor, at=at)
    return assignment


def set_maintenance(
    session: Session, serial: str, state: str, *, note: str = "", actor: str, at: datetime
) -> Device:
    if state not in MAINTENANCE_STATES:
        raise LedgerError(
            f"maintenance state {state!r}: must be one of {', '.join(MAINTENANCE_STATES)}"
        )
    device = get_device(session, serial)
    previous = device.maintenance_state
    if previous == state:
        return device
    device.maintenance_state = state
    event = MaintenanceChanged(device=serial, state=state, previous_state=previous, note=note)
    journal.append(session, event, actor=actor, at=at)
    return device


def record_firmware(
    session: Session, serial: str, version: str, *, actor: str, at: datetime
) -> bool:
    """Note the firmware version a recorder reports; True when it changed (and was journaled)."""
    device = get_device(session, serial)
    previous = device.firmware_version
    if previous == version:
        return False
    device.firmware_version = version
    session.add(FirmwareSeen(device_id=device.id, version=version, seen_at=at))
    event = FirmwareRecorded(device=serial, version=version, previous_version=previous)
    journal.append(session, event, actor=actor, at=at)
    return True


# -- issue and return -------------------------------------------------------------------------


def issue(session: Session, serial: str, bay: int, *, actor: str, at: datetime) -> Custody:
    """A recorder taken out of `bay` goes to its assigned officer.

    The caller (the bay state machine) decides that the recorder was READY; the ledger
    refuses only what no state could excuse: unassigned, not in service, already out.
    """
    device = get_device(session, serial)
    if device.maintenance_state != "in_service":
        raise LedgerError(f"recorder {serial} is {device.maintenance_state}: it may not be issued")
    assignment = _open_assignment(session, device)
    if assignment is None:
        raise LedgerError(f"recorder {serial} is not assigned to an officer: assign it first")
    held = _open_custody(session, device)
    if held is not None:
        raise LedgerError(
            f"recorder {serial} is already issued to officer {held.officer.officer_number}: "
            "dock it to return it first"
        )
    custody = Custody(device_id=device.id, officer_id=assignment.officer_id, bay=bay, issued_at=at)
    session.add(custody)
    event = RecorderIssued(bay=bay, device=serial, officer_number=assignment.officer.officer_number)
    journal.append(session, event, actor=actor, at=at)
    return custody


def return_(session: Session, serial: str, bay: int, *, actor: str, at: datetime) -> Custody | None:
    """Docking an issued recorder returns it; None (and no row) when it was not out."""
    device = get_device(session, serial)
    custody = _open_custody(session, device)
    if custody is None:
        return None
    custody.returned_at = at
    custody.return_bay = bay
    event = RecorderReturned(
        bay=bay,
        device=serial,
        officer_number=custody.officer.officer_number,
        issued_at=custody.issued_at,
    )
    journal.append(session, event, actor=actor, at=at)
    return custody


# -- queries ----------------------------------------------------------------------------------


def get_device(session: Session, serial: str) -> Device:
    device = find_device(session, serial)
    if device is None:
        raise UnknownDevice(serial)
    return device


def get_officer(session: Session, officer_number: str) -> Officer:
    officer = _officer(session, officer_number)
    if officer is None:
        raise UnknownOfficer(officer_number)
    return officer


def list_devices(session: Session) -> list[Device]:
    return list(session.scalars(select(Device).order_by(Device.serial)))


def assigned_officer(session: Session, serial: str) -> Officer | None:
    assignment = _open_assignment(session, get_device(session, serial))
    return assignment.officer if assignment is not None else None


def current_holder(session: Session, serial: str) -> Officer | None:
    """The officer the recorder is issued to now; None while it is in the dock."""
    custody = _open_custody(session, get_device(session, serial))
    return custody.officer if custody is not None else None


# Journal types that make up the ledger's history (registration, assignment, issue, ...).
LEDGER_EVENT_PREFIXES = ("device.", "officer.", "recorder.issued", "recorder.returned")


def device_history(session: Session, serial: str, limit: int = 200) -> list[journal.JournalEntry]:
    """The recorder's ledger history as journaled: registration, assignments, issues, ..."""
    get_device(session, serial)
    return journal.latest(session, limit=limit, device=serial, type_prefixes=LEDGER_EVENT_PREFIXES)


def history(session: Session, limit: int = 200) -> list[journal.JournalEntry]:
    """The whole ledger's newest entries, all devices and officers."""
    return journal.latest(session, limit=limit, type_prefixes=LEDGER_EVENT_PREFIXES)


def ledger_facts(session: Session, serial: str, *, is_key_proven: bool) -> LedgerFacts:
    """What the pre-shift check needs from the ledger (dock.check.judge_ledger)."""
    device = find_device(session, serial)
    if device is None:
        return LedgerFacts(
            is_registered=False,
            is_key_proven=False,
            officer_name=None,
            maintenance_state="in_service",
        )
    assignment = _open_assignment(session, device)
    return LedgerFacts(
        is_registered=True,
        is_key_proven=is_key_proven,
        officer_name=assignment.officer.name if assignment is not None else None,
        maintenance_state=device.maintenance_state,
    )


def find_device(session: Session, serial: str) -> Device | None:
    """The recorder with this serial, or None when it is not registered."""
    return session.scalar(select(Device).where(Device.serial == serial))


def paired_key(session: Session, serial: str) -> bytes | None:
    """The key a registered recorder accepted, or None: unknown, or never paired."""
    device = find_device(session, serial)
    return device.pairing_key if device is not None and device.is_paired else None


def _officer(session: Session, officer_number: str) -> Officer | None:
    return session.scalar(select(Officer).where(Officer.officer_number == officer_number))


def _open_assignment(session: Session, device: Device) -> Assignment | None:
    return session.scalar(
        select(Assignment).where(
            Assignment.device_id == device.id, Assignment.assigned_to.is_(None)
        )
    )


def _open_custody(session: Session, device: Device) -> Custody | None:
    return session.scalar(
        select(Custody).where(Custody.device_id == device.id, Custody.returned_at.is_(None))
    )


# -- talking to the recorder ------------------------------------------------------------------


class Pairable(Protocol):
    """What pairing needs from a connected recorder client (the link's host client)."""

    def pair(self, new_key: bytes) -> None: ...

    def write_identity(
        self, *, officer_number: str, officer_name: str, unit_number: str, unit_name: str
    ) -> None: ...


@dataclass(frozen=True)
class Identity:
    officer_number: str
    officer_name: str
    unit_number: str
    unit_name: str


def pair_recorder(
    db: Database,
    recorder: Pairable,
    serial: str,
    *,
    actor: str,
    clock: Clock,
) -> None:
    """Write the registered key to the recorder, then record that it was accepted.

    No transaction is held while the link talks; if the recorder refuses, nothing is marked.
    """
    with db.transaction() as session:
        key = get_device(session, serial).pairing_key
    recorder.pair(key)
    with db.transaction() as session:
        mark_paired(session, serial, actor=actor, at=clock.now_utc())


def identity_for(session: Session, serial: str) -> Identity:
    """The GA/T 947.4 identity record for the recorder's assigned officer."""
    officer = assigned_officer(session, serial)
    if officer is None:
        raise LedgerError(f"recorder {serial} is not assigned to an officer: assign it first")
    return Identity(officer.officer_number, officer.name, officer.unit_number, officer.unit_name)


def write_identity_to_recorder(db: Database, recorder: Pairable, serial: str) -> Identity:
    with db.transaction() as session:
        identity = identity_for(session, serial)
    recorder.write_identity(
        officer_number=identity.officer_number,
        officer_name=identity.officer_name,
        unit_number=identity.unit_number,
        unit_name=identity.unit_name,
    )
    return identity
