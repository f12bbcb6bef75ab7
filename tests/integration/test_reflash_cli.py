"""`dock reflash BAY IMAGE` over a real pty and the simulator, against a real dock database
with staff accounts (argon2 hashes): only a technician reflashes, and a downgrade needs a
second, signed-in technician or leader, both names journaled."""

from __future__ import annotations

import socketserver
import threading
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from dock import control, journal, ledger
from dock.bays.machine import BayMachine
from dock.bays.states import BayState, Trigger
from dock.cli import app
from dock.clock import FixedClock
from dock.db import open_database
from firmware_bridge.image import DEV_KEY_PATH, build_image, load_private_key
from firmware_bridge.sim.recorder import directory_recorder
from tests.integration.people_setup import PASSWORD, add_team

SERIAL = "ZFY00001"
STAFF = {"admin": ["administrator"], "tom": ["technician"], "lee": ["leader"], "olga": ["officer"]}
CLOCK = FixedClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
runner = CliRunner()


class Dock:
    """A dock's config, database, staff, a registered and paired recorder on a pty."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.config = tmp_path / "dock.toml"
        self.config.write_text('[dock]\ndata_dir = "data"\n', encoding="utf-8")
        self.password_file = tmp_path / "password"
        self.password_file.write_text(PASSWORD + "\n", encoding="utf-8")
        self.db = open_database(tmp_path / "data")
        with self.db.transaction() as session:
            add_team(session, STAFF, CLOCK)
            device = ledger.register_device(
                session,
                serial=SERIAL,
                model="ZFY-SIM",
                firmware_version="1.0.0",
                actor="test",
                at=CLOCK.now_utc(),
            )
            ledger.mark_paired(session, SERIAL, actor="test", at=CLOCK.now_utc())
            self.key = device.pairing_key
        self.bay = BayMachine(1, self.db, CLOCK)
        for trigger in (Trigger.DOCKED, Trigger.IDENTIFIED, Trigger.CHECK_PASSED):
            self.bay.move(trigger, device=SERIAL if trigger is Trigger.DOCKED else None)
        self.sim = directory_recorder(tmp_path / "card", [], key=self.key)

    def image(self, version: str) -> str:
        path = self.tmp_path / f"firmware-{version}.img"
        image = build_image(
            bytes(i % 251 for i in range(40_000)),
            model="ZFY-SIM",
            version=version,
            min_version="0.1.0",
            key=load_private_key(DEV_KEY_PATH),
        )
        path.write_bytes(image.to_bytes())
        return str(path)

    def reflash(self, version: str, *args: str):
        command = [
            "--config",
            str(self.config),
            "reflash",
            "1",
            self.image(version),
            "--port",
            str(self.sim.port),
            "--password-file",
            str(self.password_file),
            *args,
        ]
        return runner.invoke(app, command, env={"COLUMNS": "200"})

    def rows(self, prefix: str) -> list[journal.JournalEntry]:
        with self.db.transaction() as session:
            found = journal.read_after(session, 0, 10_000)
        return [r for r in found if r.type.startswith(prefix)]

    def bytes_held(self) -> int:
        return self.sim.board.slot_size(1)


@pytest.fixture
def dock(tmp_path):
    made = Dock(tmp_path)
    with made.sim:
        yield made
    made.db.close()


def test_a_technician_reflashes_the_bay_and_every_step_names_them(dock):
    result = dock.reflash("1.1.0", "--user", "tom")
    assert result.exit_code == 0, result.output
    assert "仓位 1：记录仪 ZFY00001 1.0.0 -> 1.1.0：已确认，当前运行 1.1.0" in result.stdout
    steps = dock.rows("reflash.")
    assert [r.type for r in steps] == ["reflash.started", "reflash.progress", "reflash.finished"]
    assert {r.actor for r in steps} == {"staff:tom"}
    assert steps[0].data["technician"] == "staff:tom"
    assert dock.bay.state is BayState.READY  # the machine in memory; the database moved on
    assert BayMachine(1, dock.db, CLOCK).state is BayState.IDENTIFYING


@pytest.mark.parametrize(
    ("user", "password", "said"),
    [
        ("olga", PASSWORD, "needs the role technician"),
        ("tom", "wrong password here", ""),
    ],
)
def test_only_a_signed_in_technician_may_reflash(dock, user, password, said):
    dock.password_file.write_text(password, encoding="utf-8")
    result = dock.reflash("1.1.0", "--user", user)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and len(result.output.splitlines()) == 1
    assert said in result.output
    assert dock.bytes_held() == 0 and dock.rows("reflash.") == []


def test_a_downgrade_without_force_is_refused_before_any_byte_and_journaled(dock):
    result = dock.reflash("0.9.0", "--user", "tom")
    assert result.exit_code == 1
    assert "早于当前运行的 1.0.0" in result.output and "--force" in result.output
    assert dock.bytes_held() == 0
    assert [r.type for r in dock.rows("reflash.")] == ["reflash.stopped"]


def test_a_forced_downgrade_approved_by_a_signed_in_leader_journals_both_names(dock):
    result = dock.reflash(
        "0.9.0",
        "--user",
        "tom",
        "--force",
        "--approved-by",
        "lee",
        "--approver-password-file",
        str(dock.password_file),
    )
    assert result.exit_code == 0, result.output
    approved = dock.rows("reflash.downgrade_approved")[0]
    assert (approved.data["forced_by"], approved.data["approved_by"]) == ("staff:tom", "staff:lee")
    assert dock.rows("reflash.finished")[0].data["running_version"] == "0.9.0"


@pytest.mark.parametrize(
    ("approver", "said"),
    [
        ("olga", "无权批准降级"),  # an officer approves no firmware
        ("tom", "必须是另一个人"),  # nor does one approve one's own
    ],
)
def test_a_downgrade_approved_by_the_wrong_person_is_refused(dock, approver, said):
    result = dock.reflash(
        "0.9.0",
        "--user",
        "tom",
        "--force",
        "--approved-by",
        approver,
        "--approver-password-file",
        str(dock.password_file),
    )
    assert result.exit_code == 1 and said in result.output
    assert dock.bytes_held() == 0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--force",), "--force 需要第二人批准"),
        (("--approved-by", "lee"), "请同时给出 --force"),
    ],
)
def test_force_and_approved_by_go_together(dock, args, said):
    result = dock.reflash("0.9.0", "--user", "tom", *args)
    assert result.exit_code == 1 and said in result.output


def test_an_unpaired_recorder_is_refused_in_one_line(dock):
    with dock.db.transaction() as session:
        ledger.get_device(session, SERIAL).is_paired = False
    result = dock.reflash("1.1.0", "--user", "tom")
    assert result.exit_code == 1
    assert result.output == (
        f"error: 记录仪 {SERIAL} 未与本设备配对：请先配对"
        f"（`dock device pair {SERIAL} --port {dock.sim.port}`）\n"
    )


def test_a_bay_without_a_port_asks_for_one(dock):
    result = runner.invoke(
        app, ["--config", str(dock.config), "reflash", "1", dock.image("1.1.0"), "--user", "tom"]
    )
    assert result.exit_code == 1
    assert "配置中仓位 1 没有固定串口：请给出 --port" in result.output


def test_while_the_dock_service_answers_its_socket_the_command_asks_it_and_leaves_the_port(dock):
    asked: list[bytes] = []

    class Answer(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            asked.append(self.rfile.readline())
            self.wfile.write(b'{"ok": true, "bays": []}\n')

    path = control.socket_path(dock.tmp_path / "data")
    with socketserver.UnixStreamServer(str(path), Answer) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        result = dock.reflash("1.1.0", "--user", "tom")
        server.shutdown()
    assert result.exit_code == 1
    assert "设备服务未告知刷写结果" in result.output
    assert b'"op": "reflash"' in asked[-1]
    assert dock.bytes_held() == 0
