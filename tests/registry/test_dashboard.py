"""The dashboard page over a real registry database, filled through the registry's own ingest.

Every row the page shows came in as the message a dock publishes (real dock events, journaled
by the real dock code) and was stored by registry.ingest into registry/models.py's tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, update
from starlette.testclient import TestClient

from dock.clock import FixedClock
from dock.events import CheckCompleted, OffloadProgress, OffloadStarted
from firmware_bridge import reporting
from registry import views
from registry.alerts import raise_alert
from registry.db import migrate, open_engine, session_factory
from registry.ingest import Ingestor, Outcome
from registry.models import Alert, Dock
from registry.web.app import create_app
from tests.registry.dockjournal import PREFIX, START, DockJournal

HOSTILE = "<script>alert(1)</script>"


def _ingestor(engine: Engine) -> Ingestor:
    return Ingestor(
        sessions=session_factory(engine), prefix=PREFIX, clock=FixedClock(START), public_keys={}
    )


def fill(engine: Engine, dock_dir: Path) -> DockJournal:
    """One dock online offloading in bay 1, one hostile dock offline, a device, an alert."""
    migrate(engine)
    ingestor = _ingestor(engine)
    dock = DockJournal(dock_dir, "dock-1")
    at = reporting.iso_utc(START)
    retained = [
        (reporting.availability_topic(PREFIX, "dock-1"), b"online"),
        (
            reporting.status_topic(PREFIX, "dock-1"),
            reporting.encode(
                {
                    "schema": 1, "kind": "status", "dock": "dock-1", "at": at,
                    "journal_size": 3, "head_hash": "", "bays": [1], "backlog": 0,
                    "disk_free_bytes": 10**9, "version": "1",
                }
            ),
        ),
        (
            reporting.bay_state_topic(PREFIX, "dock-1", 1),
            reporting.encode(
                {
                    "schema": 1, "kind": "bay_state", "dock": "dock-1", "bay": 1, "at": at,
                    "state": "offloading", "device": "BC-7", "reason": None, "light": "offloading_2_of_4",
                }
            ),
        ),
    ]  # fmt: skip
    dock.append_event(OffloadStarted(bay=1, device="BC-7", clip_count=3, total_bytes=1000))
    dock.append_event(
        OffloadProgress(
            bay=1, device="BC-7", done_clips=1, total_clips=3, done_bytes=400, total_bytes=1000
        )
    )
    dock.append_event(CheckCompleted(bay=1, device="BC-7", verdict="READY"))
    for topic, payload in retained + dock.messages():
        assert ingestor.consume(topic, payload) in (Outcome.STORED, Outcome.UPDATED)
    with ingestor.sessions.begin() as session:
        session.add(Dock(id=HOSTILE, availability="offline", verified_head_id=0))
        raise_alert(session, "dock-1", "dock_offline", HOSTILE, "x", START)
    return dock


@pytest.fixture
def client(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    dock = fill(engine, tmp_path / "dock")
    with TestClient(create_app(engine)) as tc:
        yield tc
    dock.close()


def test_the_page_shows_docks_bays_devices_a_real_offload_progress_and_alerts_in_english(client):
    html = client.get("/?lang=en").text
    assert "Docking stations" in html
    assert 'class="badge offline"' in html and "offloading" in html
    assert "400 / 1000" in html and "BC-7" in html and "dock_offline" in html


def test_a_bays_light_is_drawn_in_the_colour_its_reported_pattern_shows(client):
    html = client.get("/?lang=en").text
    assert '<span class="light green" title="offloading_2_of_4">' in html


def test_accept_language_chinese_gives_the_chinese_page(client):
    html = client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    assert "扩展坞总览" in html and "离线" in html


def test_hostile_strings_from_a_dock_are_escaped(client):
    html = client.get("/").text
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_renders_over_the_registry_models_own_schema(tmp_path):
    from registry.models import Base

    engine = create_engine(f"sqlite:///{tmp_path / 'models.db'}")
    Base.metadata.create_all(engine)
    with TestClient(create_app(engine)) as tc:
        response = tc.get("/?lang=en")
    assert response.status_code == 200 and "Docking stations" in response.text


def test_the_dashboard_serves_the_audit_api_over_the_same_database(client):
    head = client.get("/api/docks/dock-1/head").json()
    assert head["verified_head_id"] == 3
    assert len(client.get("/api/docks/dock-1/hashes?after=0").json()["rows"]) == 3


def test_the_change_marker_moves_when_a_row_arrives_and_when_an_alert_is_cleared(
    registry_url, tmp_path
):
    engine = open_engine(registry_url)
    dock = fill(engine, tmp_path / "dock")
    try:
        before = views.change_marker(engine)
        assert views.change_marker(engine) == before  # nothing changed: no event
        dock.append_event(OffloadProgress(bay=1, device="BC-7", done_clips=2, total_clips=3,
                                          done_bytes=700, total_bytes=1000))  # fmt: skip
        topic, payload = dock.messages(after=3)[0]
        assert _ingestor(engine).consume(topic, payload) is Outcome.STORED
        after_row = views.change_marker(engine)
        assert after_row != before
        with session_factory(engine).begin() as session:
            session.execute(update(Alert).values(cleared_at=START))
        assert views.change_marker(engine) != after_row
        assert views.dashboard(engine).offloads[0]["done"] == 700
    finally:
        dock.close()
        engine.dispose()
