"""What the bay panel records notes with, and on which pins, follows the config."""

import sys
from pathlib import Path

from dock.config import parse_settings
from dock.panel import configured_pins, statement_recorder
from hw import gpio
from hw.gpio import LightPins
from hw.microphone import ArecordMicrophone, Picamera2Statement


def settings(**sections):
    return parse_settings(sections, base_dir=Path("."), source=None)


def test_the_alsa_device_and_the_camera_are_chosen_by_the_config_without_importing_picamera2():
    alsa = statement_recorder(settings(interruptions={"alsa_device": "hw:1,0"}))()
    assert isinstance(alsa, ArecordMicrophone) and alsa.device == "hw:1,0"
    camera = statement_recorder(settings(interruptions={"note_source": "camera"}))()
    assert isinstance(camera, Picamera2Statement)
    assert "picamera2" not in sys.modules  # only its start() on a Pi imports it


def test_the_pin_map_gives_each_bay_its_light_and_button_and_the_dock_its_health_light():
    lights, buttons = configured_pins(
        settings(
            lights={
                "bay_pins": {"1": [5, 6], "2": [13, 19, 26]},
                "dock_pins": [20, 21],
                "bay_buttons": {"1": 17},
                "technician_button": 27,
            }
        )
    )
    assert lights == {
        1: LightPins(5, 6),
        2: LightPins(13, 19, 26),
        gpio.DOCK_LIGHT: LightPins(20, 21),
    }
    assert buttons == {1: 17, gpio.TECHNICIAN_BUTTON: 27}
