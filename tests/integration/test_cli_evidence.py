"""`dock clips` and `dock quarantine`: a custodian sees what came off and what stayed behind."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from typer.testing import CliRunner

from dock.cli import app

runner = CliRunner()


def cli(dock, *args):
    config = dock.tmp_path / "dock.toml"
    config.write_text(f'[dock]\ndata_dir = "{dock.settings.dock.data_dir}"\n', encoding="utf-8")
    return runner.invoke(app, ["--config", str(config), *args], env={"COLUMNS": "250"})


def test_clips_lists_every_stored_clip_and_marks_the_late_ones(dock):
    now_s = int(datetime.now(UTC).timestamp())
    recorder = dock.recorder("ZFY50001", clip_count=2, first_start_utc_s=now_s - 30 * 3600)
    paths = [path for path, _ in recorder.storage.list_files()]
    dock.start()
    dock.plug(recorder, 1)
    dock.next_result()
    listed = cli(dock, "clips")
    assert listed.exit_code == 0, listed.output
    for path in paths:
        assert path in listed.stdout
    assert listed.stdout.count("late") == len(paths)
    only_late = cli(dock, "clips", "--late", "--device", "NOBODY")
    assert "ZFY50001" not in only_late.stdout


def test_quarantine_lists_each_file_left_behind_with_its_reason(dock):
    recorder = dock.recorder("ZFY50001", clip_count=1)
    os.mkfifo(recorder.storage.location / "pipe.MP4")
    dock.start()
    dock.plug(recorder, 1)
    dock.next_result()
    shown = cli(dock, "quarantine")
    assert shown.exit_code == 0, shown.output
    assert "pipe.MP4: device file, FIFO or socket; not a clip" in shown.stdout
