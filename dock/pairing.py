"""Pairing a registered recorder over its link: the key first, then the identity record.

Why authenticate with the new key before writing the identity: writing it is a privileged
request, and a recorder that accepted a key but cannot prove it holds it must not be
trusted with an officer's name. A recorder that already holds our key is not re-keyed: it
proves the key and is marked paired, so pairing twice is harmless.
"""

from __future__ import annotations

from dataclasses import asdict

from dock import ledger
from dock.clock import Clock
from dock.db.database import Database
from dock.errors import DockError
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import AuthenticationFailed, Refused


class PairingError(DockError):
    """The recorder on the port is not the one asked for, or refused its key."""


def pair_over_link(
    db: Database, client: RecorderClient, serial: str, *, actor: str, clock: Clock
) -> ledger.Identity | None:
    """Pair `serial` on `client`; the identity written, or None when it is not assigned yet.

    Raises PairingError, LedgerError, or a RecorderError (lost link, refusal).
    """
    found = client.hello().device_serial
    if found != serial:
        raise PairingError(
            f"the recorder on this port is {found}, not {serial}: check the port or the serial"
        )
    with db.transaction() as session:
        device = ledger.get_device(session, serial)
        key, is_marked_paired = device.pairing_key, device.is_paired
    if _proves(client, key):
        if not is_marked_paired:
            with db.transaction() as session:
                ledger.mark_paired(session, serial, actor=actor, at=clock.now_utc())
    else:
        try:
            ledger.pair_recorder(db, client, serial, actor=actor, clock=clock)
        except Refused as refusal:
            raise PairingError(
                f"recorder {serial} refused the new key ({refusal}): it is paired to another "
                "dock; a technician must reset it"
            ) from None
        client.authenticate(key)
    with db.transaction() as session:
        if ledger.assigned_officer(session, serial) is None:
            return None
        identity = ledger.identity_for(session, serial)
    client.write_identity(**asdict(identity))
    return identity


def _proves(client: RecorderClient, key: bytes) -> bool:
    try:
        client.authenticate(key)
    except (AuthenticationFailed, Refused):
        return False
    return True
