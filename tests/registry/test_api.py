"""The JSON API gives a dock's verified head and its held hashes, page by page."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from registry.api import API_ROUTES
from registry.ingest import Ingestor
from tests.registry.dockjournal import DockJournal


def test_the_api_pages_through_the_held_hashes(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    dock_journal.append(5)
    for topic, payload in dock_journal.messages():
        ingestor.consume(topic, payload)
    app = Starlette(routes=API_ROUTES)
    app.state.sessions = ingestor.sessions
    client = TestClient(app)
    head = client.get("/api/docks/dock-1/head").json()
    assert head["verified_head_id"] == 5
    page = client.get("/api/docks/dock-1/hashes?after=2&limit=2").json()["rows"]
    hashes = [entry.hash for entry in dock_journal.entries()]
    assert page == [[3, hashes[2], True], [4, hashes[3], True]]
    assert client.get("/api/docks/nobody/head").status_code == 404
