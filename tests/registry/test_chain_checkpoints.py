"""Signed checkpoints: a bad signature, a shrinking journal or a changed key raise alerts."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from registry.ingest import Ingestor
from registry.models import Alert, Checkpoint, Dock
from tests.registry.dockjournal import DockJournal


def _feed(ingestor: Ingestor, dock: DockJournal, after: int = 0) -> None:
    for topic, payload in dock.messages(after=after):
        ingestor.consume(topic, payload)


def _alert_kinds(ingestor: Ingestor) -> list[str]:
    with ingestor.sessions() as session:
        return sorted(session.scalars(select(Alert.kind)).all())


def test_a_good_checkpoint_is_kept_and_anchors_the_dock(
    make_ingestor, dock_journal: DockJournal
) -> None:
    ingestor = make_ingestor({"dock-1": dock_journal.public_key_hex})
    dock_journal.append(3)
    dock_journal.checkpoint()
    _feed(ingestor, dock_journal)
    assert _alert_kinds(ingestor) == []
    with ingestor.sessions() as session:
        checkpoint = session.scalars(select(Checkpoint)).one()
        dock = session.get(Dock, "dock-1")
        assert checkpoint.signature_ok and checkpoint.journal_size == 3
        assert dock is not None and dock.last_checkpoint_size == 3


def test_a_checkpoint_signed_by_another_key_raises_an_alert(
    make_ingestor, dock_journal: DockJournal
) -> None:
    ingestor = make_ingestor({"dock-1": dock_journal.public_key_hex})
    dock_journal.append(2)
    dock_journal.checkpoint(key=Ed25519PrivateKey.generate())
    _feed(ingestor, dock_journal)
    assert _alert_kinds(ingestor) == ["checkpoint_signature", "key_changed"]


def test_a_checkpoint_whose_journal_size_goes_down_raises_an_alert(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    dock_journal.append(4)
    dock_journal.checkpoint()  # trust on first use: this key becomes the dock's
    dock_journal.append(1)
    dock_journal.checkpoint(journal_size=2)
    _feed(ingestor, dock_journal)
    assert _alert_kinds(ingestor) == ["checkpoint_shrunk"]
