"""The dashboard page over a real SQLite registry database (tables per the shared design)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from registry.web.app import create_app
from tests.registry.dashboard_tables import DDL

HOSTILE = "<script>alert(1)</script>"


def fill(engine):
    """A registry database with one dock online, one hostile dock offline, a bay, an alert."""
    with engine.begin() as c:
        for s in DDL:
            c.execute(text(s))
        c.execute(
            text(
                "INSERT INTO docks (id, public_key, availability, availability_at, status_json, status_at, verified_head_id, verified_head_hash) VALUES (:i, '', :a, '2026-12-02T03:00:00Z', :s, :t, 5, 'ab' )"
            ),
            [
                {"i": "dock-1", "a": "online", "s": json.dumps({"journal_size": 5}), "t": "t1"},
                {"i": HOSTILE, "a": "offline", "s": "{}", "t": None},
            ],
        )
        c.execute(
            text("INSERT INTO bays VALUES ('dock-1', 1, :s, 't2')"),
            {"s": json.dumps({"state": "offloading", "light": "blue", "device": "BC-7"})},
        )
        c.execute(text("INSERT INTO devices VALUES ('BC-7', 'dock-1', 'pass', 81, 't2')"))
        c.execute(
            text(
                "INSERT INTO rows VALUES ('dock-1', :i, 't', :ty, 'dock', 1, 'BC-7', :d, '', '', '', 1)"
            ),
            [
                {"i": 1, "ty": "offload.started", "d": json.dumps({"bytes_total": 1000})},
                {
                    "i": 2,
                    "ty": "offload.progress",
                    "d": json.dumps({"bytes_done": 400, "bytes_total": 1000}),
                },
            ],
        )
        c.execute(
            text(
                "INSERT INTO alerts (dock_id, kind, subject, text, at) VALUES ('dock-1', 'dock_offline', :s, 'x', 't3')"
            ),
            {"s": HOSTILE},
        )


@pytest.fixture
def client(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    fill(engine)
    with TestClient(create_app(engine)) as tc:
        yield tc


def test_the_page_shows_docks_bays_devices_offloads_and_alerts_in_english(client):
    html = client.get("/?lang=en").text
    assert "Docking stations" in html
    assert 'class="badge offline"' in html and "offloading" in html
    assert "400 / 1000" in html and "BC-7" in html and "dock_offline" in html


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
