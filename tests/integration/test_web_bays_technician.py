"""The bays page shows technician mode and a reflash as the lights do: journal rows read by
the real lights follower (its cursor file is what the page reads), then the rows served over
HTTP to a signed-in officer: a bay awaiting a technician, one in a technician's mode (named
from the journal), and one REFLASHING with its progress."""

from __future__ import annotations

import re

from dock import journal
from dock.bays.machine import BayMachine
from dock.bays.states import Trigger
from dock.clock import FixedClock
from dock.events import (
    ReflashProgress,
    ReflashStarted,
    TechnicianModeAsked,
    TechnicianModeEntered,
)
from dock.lights import LightsFollower
from hw.gpio import FakeLights
from tests.integration.people_setup import START
from tests.integration.web_setup import Served, served  # noqa: F401

CHECKED = (Trigger.DOCKED, Trigger.IDENTIFIED, Trigger.CHECK_PASSED)


def test_the_bays_page_shows_technician_mode_and_a_reflash_in_progress(served: Served):  # noqa: F811
    people = served.people
    machines = {n: BayMachine(n, people.db, FixedClock(START)) for n in (1, 2, 3)}
    for number, machine in machines.items():
        for trigger in CHECKED:
            machine.move(trigger, device=f"ZFY0000{number}")
    machines[3].move(
        Trigger.REFLASH_STARTED,
        reason="reflash 1.1.0",
        events=[
            ReflashStarted(
                bay=3, device="ZFY00003", technician="staff:tom", from_version="1.0.0",
                to_version="1.1.0", image_sha256="ab" * 32, resumed_from_bytes=0,
            ),
            ReflashProgress(bay=3, device="ZFY00003", done_bytes=600, total_bytes=1000),
        ],
    )  # fmt: skip
    with people.db.transaction() as session:
        journal.append(
            session, TechnicianModeAsked(bay=1, device="ZFY00001"), actor="bay-button", at=START
        )
        entered = TechnicianModeEntered(bay=2, device="ZFY00002", username="tom")
        journal.append(session, entered, actor="staff:tom", at=START)
    data_dir = people.settings.dock.data_dir
    LightsFollower(people.db, FakeLights(), data_dir, bays=(1, 2, 3, 4)).start_up()

    with served.signed_in("olga") as officer:
        rows = officer.get("/bays/rows")
    assert rows.status_code == 200, rows.text
    shown = re.findall(
        r'data-bay="(\d)" data-state="(\w+)" data-light="(\w+)" data-technician="(\w*)"', rows.text
    )
    assert shown == [
        ("1", "ready", "technician_awaited", "awaited"),
        ("2", "ready", "technician_mode", "tom"),
        ("3", "reflashing", "reflashing_3_of_4", ""),
        ("4", "empty", "off", ""),
    ]
    assert "技术人员模式：等待技术人员登录" in rows.text
    assert "技术人员模式：tom" in rows.text
    assert "<td>60%</td>" in rows.text
