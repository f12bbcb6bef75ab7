"""gpiozero mock pins for the lights and buttons tests.

`pins` is a fresh MockFactory for each test, passed to the devices as `pin_factory=`. The
class-wide Device.pin_factory is set to a second, tripwire factory while the test runs and
restored in `finally`: a device that reached for the class-wide factory leaves pins on the
tripwire, and the test fails.
"""

from __future__ import annotations

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory


@pytest.fixture
def pins():
    saved = Device.pin_factory
    tripwire = MockFactory()
    factory = MockFactory()
    Device.pin_factory = tripwire
    try:
        yield factory
        assert tripwire.pins == {}, "a device used the class-wide Device.pin_factory"
    finally:
        factory.close()
        factory.reset()
        tripwire.close()
        Device.pin_factory = saved
