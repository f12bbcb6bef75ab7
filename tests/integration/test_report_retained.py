"""Retained topics: every bay's state with its light, republished on a bay's change, on every
connect, and the status every status_interval_s (a real Mosquitto)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dock.bays.machine import BayMachine
from dock.bays.states import Trigger
from dock.clock import FixedClock
from dock.db.database import open_database
from dock.events import EventBus
from dock.report.publisher import Publisher
from firmware_bridge import reporting
from hw import gpio
from tests.integration.test_report_publisher import WAIT_S, Listener, P, _settings
from tests.servers import mosquitto
from tests.servers.mosquitto import BrokerFactory

make_broker = mosquitto.make_broker
BAY1 = f"{P}/dock-01/bays/1/state"
STATUS = f"{P}/dock-01/status"
AVAILABILITY = f"{P}/dock-01/availability"


def _doc(listener: Listener, topic: str) -> dict[str, Any] | None:
    payload = listener.retained.get(topic)
    return None if payload is None else reporting.decode(topic, payload, P)  # schema-checked


def test_a_bay_state_says_which_light_it_shows_and_is_republished_when_the_bay_changes(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    clock = FixedClock(datetime(2026, 12, 2, 6, 0, tzinfo=UTC))
    db = open_database(tmp_path, EventBus())
    bay1, _bay2 = BayMachine(1, db, clock), BayMachine(2, db, clock)
    listener = Listener(broker)
    publisher = Publisher(_settings(tmp_path, broker), db, clock)
    publisher.start()
    try:
        assert listener.wait_for(lambda: (_doc(listener, BAY1) or {}).get("light") == "off")
        bay1.move(Trigger.DOCKED, device="D1")
        assert listener.wait_for(lambda: (_doc(listener, BAY1) or {}).get("state") == "identifying")
        docked = _doc(listener, BAY1)
        assert docked is not None
        assert (docked["light"], docked["device"]) == (gpio.WORKING.name, "D1")
        assert (_doc(listener, f"{P}/dock-01/bays/2/state") or {}).get("light") == "off"
    finally:
        publisher.stop()
        listener.close()
        db.close()


def test_the_status_is_republished_every_interval_and_bay_states_on_every_connect(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    clock = FixedClock(datetime(2026, 12, 2, 6, 0, tzinfo=UTC))
    db = open_database(tmp_path, EventBus())
    BayMachine(1, db, clock)
    listener = Listener(broker)
    publisher = Publisher(_settings(tmp_path, broker, status_interval_s=60), db, clock)
    publisher.start()
    try:
        assert listener.wait_for(lambda: _doc(listener, STATUS) is not None)
        clock.advance(61)
        later = reporting.iso_utc(clock.now_utc())
        assert listener.wait_for(lambda: (_doc(listener, STATUS) or {}).get("at") == later)
        before = listener.seen.count(BAY1)
        listener.close()  # its session, kept by the broker, gets what the dock sends meanwhile
        broker.stop()
        assert publisher.wait_until(lambda p: not p.is_connected, WAIT_S)
        broker.start()
        listener.resume()
        assert publisher.wait_until(lambda p: p.is_connected, WAIT_S)
        assert listener.wait_for(lambda: listener.seen.count(BAY1) > before)
    finally:
        publisher.stop()
        listener.close()
        db.close()


def test_a_dock_stopping_while_its_bays_change_leaves_stopped_retained(
    tmp_path: Path, make_broker: BrokerFactory
) -> None:
    """Not `online` (each bay change wakes the loop to republish it), nor the last will
    `offline` (a connection reset by a PUBACK left unread when the socket closed)."""
    import threading

    broker = make_broker()
    clock = FixedClock(datetime(2026, 12, 2, 6, 0, tzinfo=UTC))
    db = open_database(tmp_path, EventBus())
    bay = BayMachine(1, db, clock)
    listener = Listener(broker)
    publisher = Publisher(_settings(tmp_path, broker), db, clock)
    publisher.start()
    assert listener.wait_for(lambda: listener.retained.get(AVAILABILITY) == b"online")
    listener.close()
    stopping = threading.Event()

    def dock_and_undock() -> None:
        while not stopping.is_set():
            bay.move(Trigger.DOCKED, device="D1")
            bay.move(Trigger.UNDOCKED)

    busy = threading.Thread(target=dock_and_undock)
    busy.start()
    try:
        publisher.stop()
    finally:
        stopping.set()
        busy.join()
    late = Listener(broker, client_id="a-late-reader")  # gets what the broker retained
    try:
        assert late.wait_for(lambda: AVAILABILITY in late.retained)
        assert late.retained[AVAILABILITY] == b"stopped"
    finally:
        late.close()
        db.close()
