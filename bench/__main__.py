"""Run every benchmark module and print one JSON object per line.

`python -m bench` runs all of bench/*.py that define run(); `python -m bench link offload`
runs only those. Each line: name, figures, units and the machine it ran on, so figures from
different machines are never compared by mistake; targets, where a figure has one. A module that fails is reported on stderr
and makes the exit status 1; the others still run.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import traceback
from pathlib import Path


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def bench_modules() -> list[str]:
    here = Path(__file__).parent
    return sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))


def main(argv: list[str]) -> int:
    wanted = argv or bench_modules()
    unknown = sorted(set(wanted) - set(bench_modules()))
    if unknown:
        print(
            f"bench: no benchmark {', '.join(unknown)}; have {', '.join(bench_modules())}",
            file=sys.stderr,
        )
        return 2
    host = machine()
    failed = []
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "run", None)
        if run is None:
            continue
        try:
            results = run()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        for result in results:
            line = {
                "name": result["name"],
                "figures": result["figures"],
                "units": result.get("units", {}),
                "targets": result.get("targets", {}),
                "machine": host,
            }
            print(json.dumps(line, ensure_ascii=False), flush=True)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
