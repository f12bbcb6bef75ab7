"""The dock light says whether the registry's broker hears the dock (a real Mosquitto)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from dock.db.database import open_database
from dock.events import EventBus
from dock.lights import BROKER_DOWN, LightsFollower
from dock.report.publisher import Publisher
from hw import gpio
from hw.gpio import FakeLights, GpioLights, LightPins
from tests.integration.bay_lights.pin_history import Ticks, levels
from tests.integration.test_report_publisher import CLOCK, WAIT_S, _settings
from tests.servers import mosquitto
from tests.servers.mosquitto import BrokerFactory

make_broker = mosquitto.make_broker
RED, GREEN = 20, 21
F, T = False, True


class Both:
    """Shows on the mock pins and remembers the pattern names, with a condition to wait on."""

    def __init__(self, *lights: Any) -> None:
        self.all = lights
        self.changed = threading.Condition()

    def show(self, light: Any, pattern: gpio.Pattern) -> None:
        with self.changed:
            for each in self.all:
                each.show(light, pattern)
            self.changed.notify_all()

    def wait_for_dock(self, fake: FakeLights, name: str) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: fake.current.get(gpio.DOCK_LIGHT) == name, WAIT_S)

    def close(self) -> None:
        pass


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    factory = MockFactory()
    try:
        yield factory
    finally:
        factory.close()
        factory.reset()


def _wait(rule: Any) -> bool:
    """Poll a condition another process decides (the broker's TCP state) within WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if rule():
            return True
        time.sleep(0.02)
    return False


def test_the_dock_light_flashes_amber_while_the_broker_is_away_and_is_green_again_on_connect(
    tmp_path: Path, make_broker: BrokerFactory, pins: MockFactory
) -> None:
    broker = make_broker()
    db = open_database(tmp_path, EventBus())
    ticks = Ticks()
    fake = FakeLights()
    mock = GpioLights(
        {gpio.DOCK_LIGHT: LightPins(red=RED, green=GREEN)}, pin_factory=pins, monotonic_s=ticks
    )
    lights = Both(fake, mock)
    follower = LightsFollower(db, lights, tmp_path, bays=())
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop, 0.05), daemon=True)
    thread.start()
    publisher = Publisher(_settings(tmp_path, broker, reconnect_max_s=1), db, CLOCK)
    publisher.on_connectivity.append(follower.set_broker)
    publisher.start()
    try:
        assert lights.wait_for_dock(fake, "health_ok")
        assert publisher.wait_until(lambda p: p.is_connected, WAIT_S)
        broker.stop()
        assert lights.wait_for_dock(fake, BROKER_DOWN.name)
        for ticks.now_s in (1.05, 1.2, 1.35, 1.5):  # one cycle: two amber flashes over green
            mock.render()
        broker.start()
        assert lights.wait_for_dock(fake, "health_ok")
        assert _wait(lambda: publisher.is_connected)
    finally:
        publisher.stop()
        stop.set()
        follower.wake()
        thread.join(5)
        mock.close()
        db.close()
    dock_patterns = [name for light, name in fake.history if light == gpio.DOCK_LIGHT]
    assert dock_patterns == ["health_ok", "broker_down", "health_ok"]
    assert levels(pins, RED) == [F, T, F, T, F]  # amber is red and green together
    assert levels(pins, GREEN) == [F, T]  # green all along: the bays work without a broker
