"""`python -m firmware_bridge.sim`: port path first, config errors in one line, clean stop."""

import signal
import subprocess
import sys

import serial

from firmware_bridge import messages
from firmware_bridge.framing import FrameReader, encode_frame


def test_simulator_prints_its_port_first_serves_it_and_stops_on_sigterm(tmp_path):
    config = tmp_path / "sim.toml"
    config.write_text(
        'serial = "ZFY00099"\nbattery_pct = 41\n[clips]\ncount = 3\nsize_bytes = 2000\n'
        "[faults]\nprotocol_version = 7\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge.sim", "--config", str(config), "--battery", "42"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port_path = proc.stdout.readline().strip()
        with serial.Serial(port_path, timeout=2) as port:
            hello = {"protocol_version": 1, "table_hash": messages.TABLE_HASH}
            port.write(encode_frame(1, *messages.encode("Hello", hello)))
            port.write(encode_frame(2, *messages.encode("GetStatus", {})))
            reader, frames = FrameReader(), []
            while len(frames) < 2:
                data = port.read(1) + port.read(port.in_waiting)
                assert data, "the simulator did not answer"
                frames += reader.feed(data)
        replies = [messages.decode(f.msg_id, f.payload) for f in frames[:2]]
        assert replies[0].device_serial == "ZFY00099" and replies[0].protocol_version == 7
        assert replies[1].battery_pct == 42  # the flag overrides the file
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_bad_setting_stops_the_simulator_with_one_line_naming_it(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "firmware_bridge.sim", "--storage", "floppy"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "storage.kind" in done.stderr
