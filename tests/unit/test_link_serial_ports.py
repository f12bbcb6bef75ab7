"""Finding a recorder's serial port and its bay by USB port path (hw/serial_ports.py)."""

from serial.tools import list_ports_common

from hw import serial_ports
from hw.serial_ports import FakeSerialPorts, PyserialPorts, SerialPortInfo, bay_of, ports_by_bay

BAYS = {"1-1.2": 1, "1-1.3": 2}


def _listed(device, location, vid=0x2E8A, pid=0x000A):
    info = list_ports_common.ListPortInfo(device, skip_link_detection=True)
    info.location, info.vid, info.pid, info.serial_number = location, vid, pid, "ZFY00001"
    return info


def test_bay_comes_from_the_usb_port_path_with_or_without_the_interface():
    assert bay_of("1-1.2:1.0", BAYS) == 1
    assert bay_of("1-1.3", BAYS) == 2
    assert bay_of("1-1.4:1.0", BAYS) is None


def test_only_usb_ports_with_ids_are_reported_and_sorted_by_usb_path(monkeypatch):
    listing = [
        _listed("/dev/ttyACM1", "1-1.3:1.0"),
        _listed("/dev/ttyS0", None, vid=None, pid=None),  # a built-in UART: no USB location
        _listed("/dev/ttyACM0", "1-1.2:1.0"),
        _listed("/dev/ttyUSB0", "1-1.4:1.0", vid=0x0403, pid=0x6001),
    ]
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: listing)
    all_usb = PyserialPorts().ports()
    assert [(p.device, p.usb_port_path) for p in all_usb] == [
        ("/dev/ttyACM0", "1-1.2"),
        ("/dev/ttyACM1", "1-1.3"),
        ("/dev/ttyUSB0", "1-1.4"),
    ]
    recorders_only = PyserialPorts(vid_pids=[(0x2E8A, 0x000A)]).ports()
    assert [p.device for p in recorders_only] == ["/dev/ttyACM0", "/dev/ttyACM1"]


def test_ports_by_bay_ignores_ports_on_unmapped_usb_ports():
    source = FakeSerialPorts(
        [
            SerialPortInfo("/dev/pts/7", "1-1.3", 0x2E8A, 0x000A),
            SerialPortInfo("/dev/pts/9", "2-1", 0x2E8A, 0x000A),
        ]
    )
    assert ports_by_bay(source, BAYS) == {2: source.ports()[0]}
    source.remove("/dev/pts/7")
    assert ports_by_bay(source, BAYS) == {}


def test_real_listing_runs_on_this_machine_and_keeps_only_usb_ports():
    for port in serial_ports.PyserialPorts().ports():
        assert port.usb_port_path and ":" not in port.usb_port_path
