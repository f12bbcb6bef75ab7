"""The CLI face of the command layer: the real `dock` command, signing in on every call.

Staff and clips are put in a real migrated database (tests/integration/people_setup); each
command then runs as its own `dock` process, as a custodian at the dock would run it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dock import journal
from dock.people.models import Request
from tests.integration.people_setup import PASSWORD, People

DOCK = Path(sys.executable).parent / "dock"
SETTINGS = {"language": "en", "time_zone": "Asia/Shanghai", "lockout_failures": 3}


class DockCli:
    """A dock.toml over the People database, and the `dock` command run against it."""

    def __init__(self, tmp_path: Path, people: dict | None = None) -> None:
        if not DOCK.exists():
            pytest.skip("the dock console script is not installed in this environment")
        self.tmp_path = tmp_path
        self.people = People(tmp_path, people) if people is not None else None
        self.config = tmp_path / "dock.toml"
        lines = ["[dock]", 'data_dir = "data"', 'agency = "某市城市管理综合执法局"', "[people]"]
        lines += [f"{k} = {v!r}".replace("'", '"') for k, v in SETTINGS.items()]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.right = self.password_file("right", PASSWORD)

    def password_file(self, name: str, password: str) -> Path:
        path = self.tmp_path / f"{name}.password"
        path.write_text(password + "\n", encoding="utf-8")
        return path

    def run(
        self, *args: str, user: str | None = None, password: Path | None = None, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(DOCK), "--config", str(self.config), *args]
        if user is not None:
            argv += ["--user", user, "--password-file", str(password or self.right)]
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )

    def ok(self, *args: str, **kwargs: object) -> str:
        done = self.run(*args, **kwargs)  # type: ignore[arg-type]
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def fails(self, *args: str, **kwargs: object) -> str:
        """The one line a refusal prints: exit 1, no traceback."""
        done = self.run(*args, **kwargs)  # type: ignore[arg-type]
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        [line] = done.stderr.splitlines()
        assert line.startswith("error: ")
        return line

    def request(self, kind: str, clip: int, user: str = "olga") -> int:
        out = self.ok("request", kind, "--clip", str(clip), "--reason", "complaint 17", user=user)
        assert out.startswith("request ") and out.strip().endswith("requested")
        return int(out.split()[1].rstrip(":"))

    def request_row(self, request_id: int) -> Request:
        assert self.people is not None
        with self.people.db.transaction() as session:
            row = session.get(Request, request_id)
            assert row is not None
            session.expunge(row)
            return row

    def steps(self) -> list[tuple[str, str]]:
        assert self.people is not None
        with self.people.db.transaction() as session:
            rows = journal.latest(session, limit=100, type_prefixes=("request.step",))
        return [(r.data["step"], r.actor) for r in rows]


@pytest.fixture
def cli(tmp_path: Path):
    made = DockCli(tmp_path, SETTINGS)
    yield made
    assert made.people is not None
    made.people.close()


def test_the_first_account_is_an_administrator_who_then_adds_the_others(tmp_path: Path) -> None:
    cli = DockCli(tmp_path)
    new = ["--new-password-file", str(cli.right)]
    first = ["staff", "add", "cora", "--name", "王芳", "--roles", "custodian", *new]
    assert "first account must be an administrator" in cli.fails(*first)
    cli.ok("staff", "add", "admin", "--name", "Admin", "--roles", "administrator", *new)
    assert "give --user" in cli.fails(*first)
    cli.ok(*first, user="admin")
    assert "may not do this" in cli.fails(
        "staff", "add", "olga", "--name", "O", "--roles", "officer", *new, user="cora"
    )
    listing = cli.ok("staff", "list", user="admin")
    row = next(line for line in listing.splitlines() if " cora " in line)
    assert "王芳" in row and "custodian" in row


def test_a_wrong_password_is_one_line_and_repeated_it_locks_the_account(cli: DockCli) -> None:
    wrong = cli.password_file("wrong", "not the password")
    for _ in range(SETTINGS["lockout_failures"] - 1):
        assert cli.fails("queue", user="cora", password=wrong) == (
            "error: wrong user name or password; try again"
        )
    locked = cli.fails("queue", user="cora", password=wrong)
    assert "cora is locked until" in locked and "CST" in locked
    assert "cora is locked until" in cli.fails("queue", user="cora")  # even the right one


def test_the_password_can_come_on_standard_input(cli: DockCli) -> None:
    done = cli.run("queue", "--user", "dora", "--password-file", "-", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert "nothing waits for you" in done.stdout


def test_a_view_request_is_reviewed_then_approved_and_each_step_is_journaled(
    cli: DockCli,
) -> None:
    assert cli.people is not None
    clip = cli.people.add_clip()
    request_id = cli.request("view", clip)
    assert f"{request_id} " in cli.ok("queue", user="dora")
    assert "nothing waits for you" in cli.ok("queue", user="leo")
    cli.ok("review", str(request_id), "--note", "reason checked", user="dora")
    assert f"{request_id} " in cli.ok("queue", user="leo")
    out = cli.ok("approve", str(request_id), "--note", "granted", user="leo")
    assert out.startswith(f"request {request_id}: view clip {clip}, approved until ")
    assert "CST" in out
    assert cli.request_row(request_id).state == "approved"
    assert cli.steps() == [
        ("requested", "staff:olga"),
        ("reviewed", "staff:dora"),
        ("approved", "staff:leo"),
    ]


def test_a_copy_is_not_approved_before_legal_review_nor_reviewed_by_another_role(
    cli: DockCli,
) -> None:
    assert cli.people is not None
    request_id = cli.request("copy", cli.people.add_clip())
    assert "it must be reviewed" in cli.fails("approve", str(request_id), user="leo")
    assert "needs the role legal_reviewer" in cli.fails("review", str(request_id), user="dora")
    cli.ok("review", str(request_id), user="lena")
    refused = cli.ok("refuse", str(request_id), "--note", "no case open", user="leo")
    assert refused.strip().endswith("refused")
    assert cli.request_row(request_id).decision_note == "no case open"


def test_nobody_reviews_their_own_request(cli: DockCli) -> None:
    assert cli.people is not None
    request_id = cli.request("view", cli.people.add_clip(), user="dora")
    assert "someone else must review" in cli.fails("review", str(request_id), user="dora")


def test_a_custodian_classifies_a_clip_and_search_finds_it_with_its_case_mark(
    cli: DockCli,
) -> None:
    assert cli.people is not None
    clip = cli.people.add_clip()
    other = cli.people.add_clip(b"another clip")
    cli.ok(
        "classify", str(clip), "--case-number", "城管罚字〔2026〕第0042号", "--party", "某餐馆",
        "--category", "现场执法", "--place", "人民路", user="cora",
    )  # fmt: skip
    cli.ok("mark", "personal_information", "--case", "城管罚字〔2026〕第0042号", user="cora")
    found = cli.ok("search", "--party", "某餐馆", user="audrey")
    rows = [line for line in found.splitlines() if line.startswith("│")]
    assert len(rows) == 1
    assert rows[0].startswith(f"│ {clip} ")
    assert "人民路" in rows[0] and "personal_information" in rows[0]
    assert f"│ {other} " not in found
    assert "no clips match" in cli.ok("search", "--since", "2026-12-03", user="audrey")


def test_classification_refuses_an_officer_and_a_category_off_the_checklist(
    cli: DockCli,
) -> None:
    assert cli.people is not None
    clip = str(cli.people.add_clip())
    assert "may not do this" in cli.fails("classify", clip, "--place", "人民路", user="olga")
    line = cli.fails("classify", clip, "--category", "picnic", user="cora")
    assert "not in the agency's checklist" in line and "现场执法" in line


def test_a_time_that_is_not_a_time_is_one_line(cli: DockCli) -> None:
    assert "is not a date or time" in cli.fails("search", "--since", "yesterday", user="cora")


def test_the_commands_speak_chinese_by_default(cli: DockCli) -> None:
    text = cli.config.read_text(encoding="utf-8").replace('language = "en"\n', "")
    cli.config.write_text(text, encoding="utf-8")
    assert cli.ok("queue", user="dora").strip() == "没有等待您处理的事项"
    assert cli.fails("queue") == "error: 请登录：用 --user 给出您的工作人员用户名"
