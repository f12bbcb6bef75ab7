"""What the registry derives from a dock's journal rows: checkpoints, alerts, device rows.

Called once per newly stored row (never for a duplicate), inside the ingest transaction with
the dock locked. Rows may arrive out of order, so every comparison is by row id, not by
arrival: a checkpoint's journal_size must not be below an earlier checkpoint's, nor above a
later one's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from firmware_bridge import reporting
from registry.alerts import raise_alert
from registry.chain import CHAIN_MISMATCH
from registry.models import Checkpoint, Device, Dock, Row

CHECKPOINT_SIGNATURE = "checkpoint_signature"
CHECKPOINT_SHRUNK = "checkpoint_shrunk"
KEY_CHANGED = "key_changed"
STALE_GAP = "stale_gap"

# Journal row type -> (alert kind, data field naming the subject, what it means)
ROW_ALERTS: dict[str, tuple[str, str, str]] = {
    "interruption.overdue": ("interruption_overdue", "key", "an interruption is unexplained"),
    "clip.quarantined": ("clip_quarantined", "source_path", "a clip was quarantined"),
    "store.object_damaged": ("object_damaged", "sha256", "a stored object failed fixity"),
    "store.object_repaired": ("object_repaired", "sha256", "fixity failure repaired from a copy"),
    "central.object_damaged": ("central_object_damaged", "sha256", "a central copy failed fixity"),
    "dock.disk_reserve_reached": ("disk_reserve", "reason", "the disk reached its reserve"),
}


def on_row(
    session: Session,
    dock: Dock,
    row: Row,
    data: dict[str, Any],
    now: datetime,
    *,
    check_checkpoints: bool = True,
) -> None:
    """What one stored row means; a batch passes check_checkpoints=False and calls
    held_rows_against_checkpoints once for all its rows of the dock."""
    if row.type == reporting.CHECKPOINT_TYPE:
        _checkpoint(session, dock, row, data, now)
    if check_checkpoints:
        held_rows_against_checkpoints(session, dock, [row.row_id], now)
    if row.type in ROW_ALERTS:
        kind, field, meaning = ROW_ALERTS[row.type]
        subject = str(data.get(field) or f"row {row.row_id}")
        raise_alert(session, dock.id, kind, subject, f"{meaning}: {subject}", now)
    elif row.type == "clip.stored" and data.get("is_late"):
        subject = str(data.get("sha256") or f"row {row.row_id}")
        delay_h = float(data.get("handover_delay_s") or 0) / 3600
        text = f"late hand-over: clip {subject[:12]} docked {delay_h:.1f} h after recording"
        raise_alert(session, dock.id, "late_handover", subject, text, now)
    elif row.type == "check.completed" and row.device:
        _device_verdict(session, dock, row, data)


def _device_verdict(session: Session, dock: Dock, row: Row, data: dict[str, Any]) -> None:
    device = session.get(Device, row.device, with_for_update=True)
    if device is None:
        device = Device(serial=row.device)
        session.add(device)
    elif device.at is not None and device.at >= row.at_utc:
        return  # an older verdict arriving late
    device.dock_id = dock.id
    device.last_verdict = str(data.get("verdict", ""))
    device.last_reasons = list(data.get("reasons") or [])
    battery = data.get("battery_pct")
    if isinstance(battery, int):
        device.battery_pct = battery
    device.at = row.at_utc


def _checkpoint(
    session: Session, dock: Dock, row: Row, data: dict[str, Any], now: datetime
) -> None:
    subject = f"checkpoint {row.row_id}"
    key_hex = str(data.get("public_key", ""))
    if dock.public_key is None:
        dock.public_key, dock.public_key_source = key_hex, "first_use"
    elif key_hex != dock.public_key:
        raise_alert(
            session, dock.id, KEY_CHANGED, subject,
            f"checkpoint {row.row_id} carries a key other than the dock's registered one",
            now,
        )  # fmt: skip
    try:
        journal_size, head_id = int(data["journal_size"]), int(data["head_id"])
        head_hash, signed_at = str(data["head_hash"]), str(data["signed_at"])
        signature = bytes.fromhex(str(data["signature"]))
        message = reporting.checkpoint_bytes(dock.id, journal_size, head_id, head_hash, signed_at)
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(dock.public_key)).verify(
            signature, message
        )
        is_signed = True
    except (KeyError, ValueError, TypeError, InvalidSignature):
        is_signed = False
    if not is_signed:
        raise_alert(
            session, dock.id, CHECKPOINT_SIGNATURE, subject,
            f"checkpoint {row.row_id}'s signature does not verify with the dock's key",
            now,
        )  # fmt: skip
        if "journal_size" not in data:
            return
        journal_size, head_id = int(data.get("journal_size", 0)), int(data.get("head_id", 0))
        head_hash, signed_at = str(data.get("head_hash", "")), str(data.get("signed_at", ""))
    session.add(
        Checkpoint(
            dock_id=dock.id,
            row_id=row.row_id,
            journal_size=journal_size,
            head_id=head_id,
            head_hash=head_hash,
            signed_at=_moment(signed_at) or row.at_utc,
            public_key=key_hex[:64],
            signature=str(data.get("signature", ""))[:128],
            signature_ok=is_signed,
            received_at=now,
        )
    )
    earlier = session.scalar(
        select(func.max(Checkpoint.journal_size)).where(
            Checkpoint.dock_id == dock.id, Checkpoint.row_id < row.row_id
        )
    )
    later = session.scalar(
        select(func.min(Checkpoint.journal_size)).where(
            Checkpoint.dock_id == dock.id, Checkpoint.row_id > row.row_id
        )
    )
    if (earlier is not None and journal_size < earlier) or (
        later is not None and journal_size > later
    ):
        raise_alert(
            session, dock.id, CHECKPOINT_SHRUNK, subject,
            f"the journal size went down between checkpoints (checkpoint {row.row_id}: "
            f"{journal_size} rows)",
            now,
        )  # fmt: skip
    if later is None and is_signed:
        dock.last_checkpoint_size, dock.last_checkpoint_head_id = journal_size, head_id
        dock.last_checkpoint_head_hash = head_hash
        dock.last_checkpoint_signed_at = _moment(signed_at)


def held_rows_against_checkpoints(
    session: Session, dock: Dock, row_ids: list[int], now: datetime
) -> None:
    """A checkpoint names a head (id, hash); the row held under that id must carry that hash."""
    session.flush()
    pairs = session.execute(
        select(Checkpoint.row_id, Checkpoint.head_id, Checkpoint.head_hash, Row.hash)
        .join(Row, (Row.dock_id == Checkpoint.dock_id) & (Row.row_id == Checkpoint.head_id))
        .where(
            Checkpoint.dock_id == dock.id,
            Row.conflict_no == 0,
            Checkpoint.head_id.in_(row_ids) | Checkpoint.row_id.in_(row_ids),
        )
    ).all()
    for checkpoint_row, head_id, head_hash, held_hash in pairs:
        if head_hash != held_hash:
            raise_alert(
                session, dock.id, CHAIN_MISMATCH, f"checkpoint {checkpoint_row}",
                f"checkpoint {checkpoint_row} signs row {head_id} with a hash other than the "
                "row held here",
                now,
            )  # fmt: skip


def check_stale_gaps(session: Session, now: datetime, max_gap: timedelta) -> list[str]:
    """Docks whose rows past the verified head have waited longer than max_gap for a gap."""
    waiting = session.execute(
        select(Row.dock_id, func.min(Row.received_at))
        .join(Dock, Dock.id == Row.dock_id)
        .where(Row.row_id > Dock.verified_head_id + 1, Row.chain_ok.is_(None))
        .group_by(Row.dock_id)
    ).all()
    stale = []
    for dock_id, since in waiting:
        if since is not None and now - since > max_gap:
            dock = session.get(Dock, dock_id)
            missing = (dock.verified_head_id + 1) if dock else 0
            raise_alert(
                session, dock_id, STALE_GAP, f"row {missing}",
                f"row {missing} has been missing since {since:%Y-%m-%d %H:%M} UTC",
                now,
            )  # fmt: skip
            stale.append(dock_id)
    return stale


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
