"""The dock's Ed25519 key and the signed journal checkpoints it anchors centrally.

The key is made once, at first start, in data_dir/dock_ed25519.pem (0600); the registry's
admin enrols its public key (`dock report key`). A checkpoint signs the journal's size and
head so that a truncated or recomputed journal cannot match what the registry already holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dock.events import JournalCheckpointSigned
from firmware_bridge.reporting import checkpoint_bytes, iso_utc

if TYPE_CHECKING:  # SQLAlchemy only where a checkpoint is signed: `dock report key` needs none
    from sqlalchemy.orm import Session

    from dock.clock import Clock

KEY_NAME = "dock_ed25519.pem"


def load_or_create_key(data_dir: Path) -> Ed25519PrivateKey:
    path = data_dir / KEY_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        return key
    os.chmod(path, 0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return loaded


def public_key_hex(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def append_checkpoint(
    session: Session, key: Ed25519PrivateKey, dock_id: str, clock: Clock, actor: str = "dock"
) -> JournalCheckpointSigned:
    """Sign the current head and journal it, in the caller's transaction."""
    from sqlalchemy import func, select

    from dock import journal
    from dock.db.models import JournalRow

    size = session.execute(select(func.count()).select_from(JournalRow)).scalar_one()
    head = session.execute(
        select(JournalRow.id, JournalRow.hash).order_by(JournalRow.id.desc()).limit(1)
    ).first()
    head_id, head_hash = (int(head[0]), str(head[1])) if head else (0, journal.GENESIS_HASH)
    now = clock.now_utc()
    signed_at = iso_utc(now)
    signature = key.sign(checkpoint_bytes(dock_id, int(size), head_id, head_hash, signed_at))
    event = JournalCheckpointSigned(
        journal_size=int(size),
        head_id=head_id,
        head_hash=head_hash,
        signed_at=signed_at,
        public_key=public_key_hex(key),
        signature=signature.hex(),
    )
    journal.append(session, event, actor=actor, at=now)
    return event


def verify_checkpoint(dock_id: str, data: dict[str, object]) -> bool:
    """True when a checkpoint row's signature holds for its own public key."""
    from cryptography.exceptions import InvalidSignature

    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(str(data["public_key"])))
    signed = checkpoint_bytes(
        dock_id,
        int(str(data["journal_size"])),
        int(str(data["head_id"])),
        str(data["head_hash"]),
        str(data["signed_at"]),
    )
    try:
        public.verify(bytes.fromhex(str(data["signature"])), signed)
    except InvalidSignature:
        return False
    return True
