"""The dock SIGKILLed while it writes an evidence disc: no finished-looking disc is left.

A child process writes an export of a large sparse clip and is killed while the first image
is still being written. What it leaves must be only `.partial` files and no export.written
row: nobody can take half a disc for evidence. Writing the export again succeeds, removes the
killed run's partial file, and its images verify.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from dock.db.models import JournalRow
from dock.export.disc import PARTIAL_SUFFIX
from dock.export.verify import verify_image
from tests.integration.disc_setup import NOW, Evidence

ROOT = Path(__file__).resolve().parents[2]
CLIP_BYTES = 768 * 1024 * 1024
CHILD = """
import sys
from pathlib import Path
from tests.integration.disc_setup import Evidence
evidence = Evidence(Path(sys.argv[1]))
evidence.clips.extend(evidence.db_clips())
evidence.export()
"""


def _sparse_clip(path: Path) -> None:
    with open(path, "wb") as f:
        f.write(b"start of a long recording")
        f.truncate(CLIP_BYTES)


def _partials(discs: Path) -> list[Path]:
    return sorted(discs.glob(f"*{PARTIAL_SUFFIX}")) if discs.exists() else []


def _kill_while_writing(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not _partials(tmp_path / "discs"):
            assert child.poll() is None, "the export finished before it could be killed"
            assert time.monotonic() < deadline, "the export never started writing"
            time.sleep(0.01)
        time.sleep(0.2)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)


def _exports_journaled(evidence: Evidence) -> int:
    with evidence.db.transaction() as session:
        return session.scalar(select(func.count()).where(JournalRow.type == "export.written"))  # type: ignore[return-value]


def test_a_killed_export_leaves_only_partial_files_and_a_second_run_writes_both_copies(
    tmp_path: Path,
) -> None:
    evidence = Evidence(tmp_path)
    source = tmp_path / "long.mp4"
    _sparse_clip(source)
    evidence.add_file("DCIM/100MEDIA/长录像.MP4", source)
    evidence.db.close()

    _kill_while_writing(tmp_path)

    discs = tmp_path / "discs"
    assert [p.name for p in discs.iterdir() if not p.name.endswith(PARTIAL_SUFFIX)] == []
    assert _partials(discs), "the kill came after the partial file was gone"
    evidence = Evidence(tmp_path)
    evidence.clips.extend(evidence.db_clips())
    assert _exports_journaled(evidence) == 0

    images = evidence.export()

    assert _partials(discs) == []
    assert sorted(discs.iterdir()) == sorted(images.paths)
    assert _exports_journaled(evidence) == 1
    for image in images.paths:
        assert verify_image(image) == []
    assert images.facts.extracted_at_utc == NOW
