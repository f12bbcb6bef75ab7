"""`dock store verify`: the command that really re-reads the evidence, not only the journal."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from dock.cli import app

runner = CliRunner()


def cli(dock, *args, data_dir=None):
    config = dock.tmp_path / "dock.toml"
    where = data_dir or dock.settings.dock.data_dir
    config.write_text(f'[dock]\ndata_dir = "{where}"\n', encoding="utf-8")
    return runner.invoke(app, ["--config", str(config), *args], env={"COLUMNS": "250"})


def test_store_verify_exits_non_zero_naming_each_damaged_or_missing_object(dock):
    recorder = dock.recorder("ZFY80001", clip_count=3)
    dock.start()
    dock.plug(recorder, 1)
    dock.next_result()
    intact = cli(dock, "store", "verify")
    assert intact.exit_code == 0, intact.output
    assert "store intact" in intact.stdout
    objects = sorted(p for p in dock.store.objects_dir.rglob("*") if p.is_file())
    os.chmod(objects[0], 0o644)
    objects[0].write_bytes(b"changed")
    os.unlink(objects[1])
    damaged = cli(dock, "store", "verify", "--all")
    assert damaged.exit_code == 1
    assert f"stored object {objects[0].name} no longer matches its SHA-256" in damaged.output
    assert f"stored object {objects[1].name} is missing" in damaged.output
    assert "Traceback" not in damaged.output
    some = cli(dock, "store", "verify", "--share", "0.1")
    assert some.exit_code == 1  # the never-verified damaged ones are checked first
    journal = cli(dock, "journal", "--limit", "50")
    assert journal.stdout.count("store.object_damaged") >= 2


def test_clips_shows_how_each_clip_was_verified(dock):
    recorder = dock.recorder("ZFY80001", clip_count=2)
    (recorder.storage.location / "DCIM" / "empty.MP4").write_bytes(b"")
    recorder.storage.rescan()
    dock.start()
    dock.plug(recorder, 1)
    dock.next_result()
    shown = cli(dock, "clips")
    assert shown.exit_code == 0, shown.output
    assert "device_hash" in shown.stdout  # the simulator keeps its own hashes
    assert "size_only" in shown.stdout  # a file it did not record has none


def test_store_verify_on_a_data_dir_without_a_store_says_so_in_one_line(dock, tmp_path):
    missing = cli(dock, "store", "verify", data_dir=tmp_path / "nowhere")
    assert missing.exit_code == 1
    assert "no evidence store at" in missing.output and "Traceback" not in missing.output
    assert not (tmp_path / "nowhere").exists()
