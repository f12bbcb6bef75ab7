"""End to end: `dock serve --simulate 2` subprocesses -> Mosquitto -> `dock-registry` -> PostgreSQL.

Written at 03:55 UTC against what had landed: the broker fixture, the wire and the dock's
publisher class. Two parts were missing, and each test below skips naming the one it needs:
the registry's worker (registry.ingest / `dock-registry serve`) and `dock serve` starting the
publisher when [mqtt] points at a broker. When both are present these skips turn into the
real checks described in each docstring.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from dock import main as dock_main


def _missing() -> str | None:
    if importlib.util.find_spec("registry.ingest") is None or shutil.which("dock-registry") is None:
        return "registry worker missing: registry.ingest / the dock-registry console script"
    if "Publisher" not in Path(dock_main.__file__).read_text():
        return "dock serve does not start dock.report.publisher.Publisher when [mqtt] is set"
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def test_every_journal_row_reaches_the_registry_once_in_order_with_its_chain_verified() -> None:
    """Every row of the dock's journal is a registry row once, ids contiguous, chain_ok."""
    pytest.fail("to be written once the registry worker lands")


@pytest.mark.slow
def test_a_broker_down_for_a_while_and_a_killed_dock_lose_and_reorder_nothing() -> None:
    """Broker stopped and restarted, dock SIGKILLed and restarted mid-stream: still once each."""
    pytest.fail("to be written once the registry worker lands")


def test_a_killed_dock_shows_offline_through_its_last_will() -> None:
    """SIGKILL the dock: the registry's docks.availability becomes `offline` (retained will)."""
    pytest.fail("to be written once the registry worker lands")


def test_a_rewritten_or_truncated_dock_journal_raises_the_chain_alert() -> None:
    """Drop the journal's no-UPDATE triggers, rewrite a row and re-hash the rest: an alert."""
    pytest.fail("to be written once the registry worker lands")


def test_two_registry_workers_on_a_shared_subscription_store_each_row_once() -> None:
    """Two `dock-registry serve` on $share/<group>/...: rows unique, none missing."""
    pytest.fail("to be written once the registry worker lands")
