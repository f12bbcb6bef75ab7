"""The dock's journal compared with the registry finds what the local chain cannot see."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from dock import anchor_check
from registry.api import API_ROUTES
from registry.ingest import Ingestor
from tests.registry.dockjournal import DockJournal


def _held(ingestor: Ingestor) -> list[tuple[int, str]]:
    app = Starlette(routes=API_ROUTES)
    app.state.sessions = ingestor.sessions
    rows = TestClient(app).get("/api/docks/dock-1/hashes?after=0&limit=5000").json()["rows"]
    return [(r[0], r[1]) for r in rows]


def test_the_registry_comparison_finds_a_truncated_tail_and_a_recomputed_chain(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    dock_journal.append(6)
    for topic, payload in dock_journal.messages():
        ingestor.consume(topic, payload)
    assert anchor_check.compare(dock_journal.entries(), _held(ingestor)).is_intact
    dock_journal.rewrite(2, {"bay": 1, "from_state": "empty", "to_state": "ready"})
    result = anchor_check.compare(dock_journal.entries(), _held(ingestor))
    assert result.first_disagreement is not None and result.first_disagreement.startswith("row 2 ")
    dock_journal.truncate(keep=1)
    result = anchor_check.compare(dock_journal.entries(), _held(ingestor))
    assert result.first_disagreement == (
        "row 2 is held by the registry but missing here (truncated)"
    )
