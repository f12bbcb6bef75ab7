"""`dock firmware update-all` and the technician's firmware page against a running
`dock serve --simulate 3` (the simulator over ptys, the real firmware, the real bay threads):
every docked recorder is updated one after another, one that refuses does not stop the
others, and the report and the journal say which succeeded; the page does the same through
the same control op, for a technician only."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from dock import journal
from dock.cli import app
from dock.clock import FixedClock
from dock.db import open_database
from dock.simulated_process import SimulatedDockProcess
from firmware_bridge.image import DEV_KEY_PATH, build_image, load_private_key
from tests.integration import web_setup
from tests.integration.people_setup import PASSWORD, add_team
from tests.integration.web_setup import csrf_of, free_port

STAFF = {"admin": ["administrator"], "tom": ["technician"], "olga": ["officer"]}
CLOCK = FixedClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
WAIT_S = 60
runner = CliRunner()


class Served:
    def __init__(self, tmp_path: Path, port: int) -> None:
        self.tmp_path = tmp_path
        self.config = tmp_path / "dock.toml"
        self.url = f"http://127.0.0.1:{port}"
        self.password_file = tmp_path / "password"

    def image(self, version: str, min_version: str) -> Path:
        """Signed with the development key, which the simulated dock and recorders trust."""
        path = self.tmp_path / f"firmware-{version}.img"
        image = build_image(
            version.encode() * 4_000,  # 20 kB, one payload per version
            model="ZFY-SIM",
            version=version,
            min_version=min_version,
            key=load_private_key(DEV_KEY_PATH),
        )
        path.write_bytes(image.to_bytes())
        return path

    def dock(self, *args: str, user: str | None = "tom"):
        command = ["--config", str(self.config), *args]
        if user is not None:
            command += ["--user", user, "--password-file", str(self.password_file)]
        return runner.invoke(app, command, env={"COLUMNS": "200"})

    def rows(self, prefix: str) -> list[journal.JournalEntry]:
        db = open_database(self.tmp_path / "data")
        try:
            with db.transaction() as session:
                found = journal.read_after(session, 0, 100_000)
        finally:
            db.close()
        return [r for r in found if r.type.startswith(prefix)]

    def wait_checked_after_reflash(self, bay: int) -> None:
        """The bay's recorder identified and checked again after its reflash ended."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            rows = [r for r in self.rows("") if r.bay == bay]
            ends = [
                i for i, r in enumerate(rows) if r.type in ("reflash.finished", "reflash.stopped")
            ]
            if ends and any(r.type == "check.completed" for r in rows[ends[-1] :]):
                return
            time.sleep(0.2)
        raise TimeoutError(f"bay {bay} was not checked again after its reflash")

    def stage_both_and_bring_bay_3_to_1_1_0(self) -> None:
        """1.1.0 replaces 1.0.0; 1.2.0 replaces 1.1.0 only, so the 1.0.0 recorders refuse it."""
        for version, oldest in (("1.1.0", "1.0.0"), ("1.2.0", "1.1.0")):
            staged = self.dock("firmware", "stage", str(self.image(version, oldest)))
            assert staged.exit_code == 0, staged.output
        first = self.dock("reflash", "3", str(self.tmp_path / "firmware-1.1.0.img"))
        assert first.exit_code == 0, first.output
        self.wait_checked_after_reflash(3)

    @contextmanager
    def signed_in(self, username: str) -> Iterator[httpx.Client]:
        """The web tests' signed-in client; a batch's answer may take a while."""
        with web_setup.Served(None, self.url).signed_in(username) as client:  # type: ignore[arg-type]
            client.timeout = httpx.Timeout(120)
            yield client


@contextmanager
def serving(tmp_path: Path, bays: int) -> Iterator[Served]:
    """`dock serve --simulate BAYS` with its pages, once every bay has its verdict."""
    port = free_port()
    made = Served(tmp_path, port)
    made.config.write_text(
        f'[dock]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[web]\nenabled = true\nlisten = "127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    made.password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    db = open_database(tmp_path / "data")
    with db.transaction() as session:
        add_team(session, STAFF, CLOCK)
    db.close()
    with SimulatedDockProcess(made.config, bays) as process:
        process.wait_for_verdicts(bays, timeout_s=90)
        yield made


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path, 3) as made:
        yield made


def test_update_all_goes_on_past_refusing_recorders_and_reports_and_journals_each_bay(served):
    served.stage_both_and_bring_bay_3_to_1_1_0()
    result = served.dock("firmware", "update-all")
    assert result.exit_code == 1, result.output  # some did not succeed
    lines = result.output.splitlines()
    assert lines[0].startswith("仓位 1 SIM00001 1.0.0 -> 1.2.0：升级被拒绝："), result.output
    assert "older than" in lines[0] or "1.1.0" in lines[0]
    assert lines[1].startswith("仓位 2 SIM00002 1.0.0 -> 1.2.0：升级被拒绝："), result.output
    assert lines[2] == "仓位 3 SIM00003 1.1.0 -> 1.2.0：升级成功：当前运行 1.2.0", result.output
    assert lines[3] == "成功 1，被拒绝 2，失败 0，跳过 0"

    [started] = served.rows("reflash.batch_started")
    assert started.actor == "staff:tom" and started.data["bays"] == [1, 2, 3]
    results = served.rows("reflash.batch_result")
    assert [(r.bay, r.device, r.data["outcome"]) for r in results] == [
        (1, "SIM00001", "refused"),
        (2, "SIM00002", "refused"),
        (3, "SIM00003", "succeeded"),
    ]
    [finished] = served.rows("reflash.batch_finished")
    assert finished.data == {"succeeded": 1, "refused": 2, "failed": 0, "skipped": 0}
    assert started.id < results[0].id < results[-1].id < finished.id

    # The refused recorders keep their firmware and are checked again; bay 3 now runs 1.2.0
    # and a second batch skips it, naming why.
    for bay in (1, 2, 3):
        served.wait_checked_after_reflash(bay)
    again = served.dock("firmware", "update-all", "--version", "1.1.0")
    assert again.exit_code == 0, again.output
    assert "仓位 3 SIM00003 1.2.0 -> 1.1.0：已跳过：已在运行 1.2.0" in again.output
    assert "仓位 1 SIM00001 1.0.0 -> 1.1.0：升级成功：当前运行 1.1.0" in again.output


def test_update_all_refuses_an_officer_and_changes_nothing(served):
    staged = served.dock("firmware", "stage", str(served.image("1.1.0", "1.0.0")))
    assert staged.exit_code == 0, staged.output
    # Listed as the running dock checks it: the simulated dock trusts the development key.
    listed = served.dock("firmware", "list", user=None)
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.output.splitlines() if "ZFY-SIM" in line]
    assert "1.1.0" in row and row.rstrip(" │").endswith("完好"), listed.output
    result = served.dock("firmware", "update-all", user="olga")
    assert result.exit_code == 1 and "technician" in result.output
    assert served.rows("reflash.batch") == [] and served.rows("reflash.started") == []


def test_the_firmware_page_is_for_technicians_and_its_posts_need_the_forms_token(served):
    with served.signed_in("olga") as officer:
        assert officer.get("/firmware").status_code == 403
        token = csrf_of(officer, "/")
        refused = officer.post("/firmware/update-all", data={"csrf": token, "password": PASSWORD})
        assert refused.status_code == 403
    with served.signed_in("tom") as technician:
        forged = technician.post("/firmware/update-all", data={"password": PASSWORD})
        assert forged.status_code == 403
    assert served.rows("reflash.batch") == []


def test_a_technician_reflashes_a_bay_and_updates_all_docked_from_the_page(served):
    staged = served.dock("firmware", "stage", str(served.image("1.1.0", "1.0.0")))
    assert staged.exit_code == 0, staged.output
    with served.signed_in("tom") as technician:
        page = technician.get("/firmware")
        assert page.status_code == 200, page.text
        sha = re.search(r'class="image" data-sha256="([0-9a-f]{64})"', page.text)
        assert sha and page.text.count('<tr class="bay"') == 3
        token = csrf_of(technician, "/firmware")
        one = technician.post(
            "/firmware/reflash",
            data={"csrf": token, "bay": "2", "image_sha256": sha[1], "password": PASSWORD},
        )
        assert one.status_code == 200, one.text
        assert "仓位 2：记录仪 SIM00002 1.0.0 -&gt; 1.1.0：已确认" in one.text
        served.wait_checked_after_reflash(2)
        wrong = technician.post("/firmware/update-all", data={"csrf": token, "password": "not it"})
        assert wrong.status_code == 400 and served.rows("reflash.batch") == []
        batch = technician.post("/firmware/update-all", data={"csrf": token, "password": PASSWORD})
    assert batch.status_code == 200, batch.text
    outcomes = re.findall(r'class="result" data-bay="(\d)" data-outcome="(\w+)"', batch.text)
    assert outcomes == [("1", "succeeded"), ("2", "skipped"), ("3", "succeeded")]
    assert "成功 2，被拒绝 0，失败 0，跳过 1" in batch.text
    [started] = served.rows("reflash.batch_started")
    assert started.actor == "staff:tom"
