"""Two-person offload (003 art.21): with `[people] two_person_offload` on, a docked recorder's
storage stays locked and its light says "awaiting two staff" until two different signed-in
staff confirm at the dock; then the offload runs and both names are in every clip's record
and in the journal. Off (the default), nothing waits.

A whole dock in-process (tests/integration/conftest.py: bays, real ptys, the real firmware,
real SQLite) with its real control socket; the confirmations come over that socket, as
`dock offload confirm` sends them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from dock import control, i18n, journal
from dock.bays.docking import AWAITING_STAFF
from dock.bays.states import BayState
from dock.clock import SystemClock
from dock.db.models import Clip
from dock.lights import AWAITING_TWO_STAFF, LightsFollower
from dock.people.models import OffloadConfirmation
from hw.gpio import FakeLights
from tests.integration.people_setup import PASSWORD, STAFF, add_team


@pytest.fixture(autouse=True)
def english():
    i18n.choose("en", "Asia/Shanghai")
    yield
    i18n.choose("zh", "Asia/Shanghai")


class Served:
    """The dock, its control socket, and what the recorder's storage was told to do."""

    def __init__(self, make_dock, *, is_two_person: bool) -> None:
        self.dock = dock = make_dock(bays=2)
        people = replace(dock.settings.people, two_person_offload=is_two_person)
        dock.settings = replace(dock.settings, people=people)
        with dock.db.transaction() as session:
            add_team(session, STAFF, SystemClock())
        self.storage_switched: list[bool] = []
        expose = dock.volumes.expose

        def noting(port: str, is_on: bool) -> None:
            self.storage_switched.append(is_on)
            expose(port, is_on)

        dock.volumes.expose = noting  # type: ignore[method-assign]
        dock.start()
        self.server = control.ControlServer(dock.settings.dock.data_dir)
        assert dock.service is not None
        self.server.start(dock.service)
        self.recorder = dock.recorder("ZFY40001", clip_count=3, clip_bytes=50_000)

    def confirm(self, user: str, password: str = PASSWORD, bay: int = 1) -> list[str]:
        reply = control.request(
            self.dock.settings.dock.data_dir,
            {"op": "offload_confirm", "bay": bay, "user": user, "password": password},
            timeout_s=30,
        )
        return reply["confirmed_by"]

    def clips(self) -> list[Clip]:
        with self.dock.db.transaction() as session:
            rows = list(session.scalars(select(Clip).order_by(Clip.source_path)))
            session.expunge_all()
            return rows

    def rows(self, prefix: str) -> list[journal.JournalEntry]:
        with self.dock.db.transaction() as session:
            entries = journal.read_after(session, 0, limit=10_000)
        return [e for e in entries if e.type.startswith(prefix)]

    def light(self, bay: int = 1) -> str:
        """What the bay's light shows, by the lights' own journal follower."""
        lights = FakeLights()
        cursor_dir = Path(tempfile.mkdtemp(dir=self.dock.tmp_path))  # read from row 1 each time
        follower = LightsFollower(self.dock.db, lights, cursor_dir, bays=[1, 2])
        follower.start_up()
        return lights.current[bay]

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def served(make_dock):
    made: list[Served] = []

    def make(*, is_two_person: bool = True) -> Served:
        made.append(Served(make_dock, is_two_person=is_two_person))
        return made[-1]

    yield make
    for one in made:
        one.stop()


def dock_and_wait_for_the_wait(served_dock: Served):
    served_dock.dock.plug(served_dock.recorder, 1)
    bay, result = served_dock.dock.next_result()
    assert bay == 1 and result.is_awaiting_staff and result.state is BayState.OFFLOADING
    return result


def test_offload_waits_with_storage_locked_until_two_different_staff_confirm(served):
    dock = served()
    dock_and_wait_for_the_wait(dock)
    row = dock.dock.bay_row(1)
    assert (row.state, row.reason) == ("offloading", AWAITING_STAFF)
    assert dock.clips() == [] and True not in dock.storage_switched
    assert [r.data["needed"] for r in dock.rows("offload.awaiting_confirmation")] == [2]
    assert dock.light() == AWAITING_TWO_STAFF.name == "awaiting_two_staff"

    assert dock.confirm("cora") == ["cora"]  # one person is not enough
    assert dock.clips() == [] and True not in dock.storage_switched
    assert dock.light() == "awaiting_two_staff"
    with pytest.raises(
        control.ControlError,
        match="^cora has confirmed already: a second person must confirm$",
    ):
        dock.confirm("cora")
    with pytest.raises(control.ControlError, match="^wrong user name or password; try again$"):
        dock.confirm("olga", "not her password")
    with pytest.raises(control.ControlError, match="^audrey may not do this: it needs offload"):
        dock.confirm("audrey")  # an auditor holds no offload.confirm
    assert dock.clips() == [] and True not in dock.storage_switched

    assert dock.confirm("olga") == ["cora", "olga"]
    bay, result = dock.dock.next_result()
    assert bay == 1 and result.state is BayState.READY and not result.is_awaiting_staff
    clips = dock.clips()
    assert len(clips) >= 3  # the three clips, and the voice notes the recorder holds
    assert {clip.offload_confirmed_by for clip in clips} == {"cora,olga"}
    assert dock.storage_switched[0] is True  # unlocked only now, for this offload
    confirmed = dock.rows("offload.confirmed")
    assert [(r.actor, r.data["confirmed_by"]) for r in confirmed] == [
        ("staff:cora", ["cora"]),
        ("staff:olga", ["cora", "olga"]),
    ]
    assert dock.rows("offload.started")[0].id > confirmed[-1].id
    assert dock.light() == "ready"
    with pytest.raises(control.ControlError, match="^bay 1 has no offload waiting"):
        dock.confirm("carl")  # done: a third confirmation has nothing to confirm


def test_recorder_taken_out_while_waiting_is_journaled_and_nothing_is_offloaded(served):
    dock = served()
    dock_and_wait_for_the_wait(dock)
    with pytest.raises(control.ControlError, match="^bay 1 waits for two staff to confirm"):
        control.request(dock.dock.settings.dock.data_dir, {"op": "recheck", "bay": 1})
    assert dock.confirm("cora") == ["cora"]
    dock.dock.unplug(dock.recorder, 1)
    dock.dock.wait_for_state(1, BayState.EMPTY)
    gone = dock.rows("offload.not_confirmed")
    assert [(r.bay, r.device, r.data["confirmed_by"]) for r in gone] == [(1, "ZFY40001", ["cora"])]
    assert dock.clips() == [] and True not in dock.storage_switched
    assert dock.rows("offload.started") == []
    with dock.dock.db.transaction() as session:
        assert set(session.scalars(select(OffloadConfirmation.is_used))) == {True}
    with pytest.raises(control.ControlError, match="^bay 1 has no offload waiting"):
        dock.confirm("olga")  # a confirmation for a recorder that left counts for nothing

    # Docked again, it waits again: the first docking's confirmation does not carry over.
    dock_and_wait_for_the_wait(dock)
    assert dock.confirm("olga") == ["olga"]
    assert dock.clips() == []


def test_without_the_setting_the_offload_runs_at_docking_as_before(served):
    dock = served(is_two_person=False)
    dock.dock.plug(dock.recorder, 1)
    bay, result = dock.dock.next_result()
    assert bay == 1 and result.state is BayState.READY and not result.is_awaiting_staff
    clips = dock.clips()
    assert len(clips) >= 3
    assert {clip.offload_confirmed_by for clip in clips} == {""}
    assert dock.rows("offload.awaiting_confirmation") == []
    with pytest.raises(control.ControlError, match="^bay 1 has no offload waiting"):
        dock.confirm("cora")


def test_dock_offload_confirm_signs_each_person_in_and_refuses_the_same_twice(served):
    dock = served()
    dock_and_wait_for_the_wait(dock)
    config = dock.dock.tmp_path / "dock.toml"
    data_dir = dock.dock.settings.dock.data_dir
    config.write_text(f'[dock]\ndata_dir = "{data_dir}"\n[people]\nlanguage = "en"\n')

    def confirm_on_the_command_line(user: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "dock.cli", "--config", str(config), "offload"]
        return subprocess.run(
            [*command, "confirm", "1", "--user", user, "--password-file", "-"],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = confirm_on_the_command_line("cora")
    assert (first.returncode, first.stdout) == (
        0,
        "bay 1: offload confirmed by cora (1 of 2); a second person must confirm\n",
    )
    again = confirm_on_the_command_line("cora")
    assert (again.returncode, again.stderr) == (
        1,
        "error: cora has confirmed already: a second person must confirm\n",
    )
    assert dock.clips() == []
    second = confirm_on_the_command_line("olga")
    assert (second.returncode, second.stdout) == (
        0,
        "bay 1: offload confirmed by cora, olga; the offload goes ahead\n",
    )
    bay, result = dock.dock.next_result()
    assert bay == 1 and result.state is BayState.READY
    assert {clip.offload_confirmed_by for clip in dock.clips()} == {"cora,olga"}
