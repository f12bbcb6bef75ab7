"""`dock` builds only the command it runs, and draws `dock bays` without rich."""

from __future__ import annotations

import unicodedata

from dock.cli import app
from dock.cli.common import plain_table


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_a_named_command_is_the_only_one_typer_builds():
    one = app._only(["--config", "dock.toml", "bays"])
    assert [c.name for c in one.registered_commands] == ["bays"]
    assert one.registered_groups == []
    assert len(app.registered_commands) > 1  # the app itself keeps them all


def test_a_group_is_built_alone_with_its_own_commands():
    one = app._only(["--config=dock.toml", "audit", "verify"])
    assert [g.name for g in one.registered_groups] == ["audit"]
    assert one.registered_commands == []


def test_help_and_an_unknown_command_see_every_command():
    assert app._only(["--help"]) is app
    assert app._only(["bayz"]) is app
    assert app._only([]) is app


def test_the_plain_table_aligns_chinese_text_by_its_display_width():
    drawn = plain_table(("bay", "reason"), [("1", "电池故障"), ("2", "ok")]).splitlines()
    assert len({_width(line) for line in drawn}) == 1
    assert drawn[1] == "┃ bay ┃ reason   ┃"
    assert drawn[3] == "│ 1   │ 电池故障 │"
    assert drawn[4] == "│ 2   │ ok       │"
