"""One figure measured in two halves, repeated while the halves disagree.

A shared machine has moods: a neighbour's build can double one run. Each figure is taken
twice (its two halves); when they differ by more than TOLERANCE the pair is taken again,
up to ATTEMPTS times, and the figure says how often it was repeated, what its halves were
and the 1-minute load average when its last pair started, so a reader can judge it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

TOLERANCE = 0.20
ATTEMPTS = 3


def load_1m() -> float:
    return round(os.getloadavg()[0], 2)


def disagree(a: float, b: float, tolerance: float = TOLERANCE) -> bool:
    low, high = sorted((abs(a), abs(b)))
    return high > low * (1 + tolerance)


def steady(
    measure: Callable[[], float], *, attempts: int = ATTEMPTS, tolerance: float = TOLERANCE
) -> dict[str, Any]:
    """{value, halves, repeats, loadavg_1m_at_start} of a figure measured twice per attempt."""
    repeats = -1
    while repeats < attempts - 1:
        repeats += 1
        load = load_1m()
        halves = [measure(), measure()]
        if not disagree(*halves, tolerance=tolerance):
            break
    return {
        "value": round(sum(halves) / 2, 3),
        "halves": [round(h, 3) for h in halves],
        "repeats": repeats,
        "loadavg_1m_at_start": load,
    }


def flatten(name: str, figure: dict[str, Any]) -> dict[str, Any]:
    """`name: value` plus `name_halves`, `name_repeats`, `name_loadavg_1m_at_start`."""
    out = {name: figure["value"]}
    for key, value in figure.items():
        if key != "value":
            out[f"{name}_{key}"] = value
    return out
