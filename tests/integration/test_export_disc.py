"""Evidence discs: two labelled images whose bag checks on any machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dock import journal
from dock.export.names import JOLIET_NAME_MAX_BYTES
from dock.export.verify import verify_image
from tests.integration.disc_setup import CONFIRMERS, Evidence, extract, read_disc

CHINESE = "DCIM/20261130/执法记录_城管_现场.MP4"
LONG_CHINESE = "DCIM/20261130/" + "城市管理综合执法局现场执法全过程记录视频" * 2 + ".MP4"


@pytest.fixture
def evidence(tmp_path: Path) -> Evidence:
    ev = Evidence(tmp_path)
    ev.add("DCIM/20261130/20261130_091502_ZFY00001_310115.MP4", b"clip one " * 50_000)
    ev.add(CHINESE, b"clip two " * 30_000)
    return ev


def test_export_writes_two_images_labelled_copy_1_and_copy_2(evidence: Evidence) -> None:
    images = evidence.export()
    for copy, path in enumerate(images.paths, start=1):
        disc = read_disc(path)
        try:
            assert disc.pvd.volume_identifier.decode().strip() == f"EVIDENCE_COPY_{copy}"
            with disc.open_file_from_iso(udf_path="/LABEL.txt") as f:
                label = f.read().decode()
        finally:
            disc.close()
        assert f"Copy {copy} of 2" in label
        assert "某市城市管理综合执法局" in label and "李明" in label and "第0042号" in label
    assert images.sha256s[0] != images.sha256s[1]


@pytest.mark.parametrize("tree", ["joliet", "udf"])
def test_bag_verifies_with_sha256sum_on_the_files_as_each_tree_shows_them(
    evidence: Evidence, tree: str, tmp_path: Path
) -> None:
    image = evidence.export().paths[0]
    bag = extract(image, tree, tmp_path / tree) / "bag"
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        done = subprocess.run(
            ["sha256sum", "--strict", "-c", manifest], cwd=bag, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "data/clips/执法记录_城管_现场.MP4: OK"
        in subprocess.run(
            ["sha256sum", "-c", "manifest-sha256.txt"], cwd=bag, capture_output=True, text=True
        ).stdout
    )


def test_bag_info_and_note_name_maker_extractor_time_zone_unit_case(evidence: Evidence) -> None:
    disc = read_disc(evidence.export().paths[1])
    try:
        with disc.open_file_from_iso(joliet_path="/bag/bag-info.txt") as f:
            info = f.read().decode()
        with disc.open_file_from_iso(joliet_path="/bag/data/文字说明材料.txt") as f:
            note = f.read().decode()
        with disc.open_file_from_iso(joliet_path="/bag/data/文字说明材料.pdf") as f:
            pdf = f.read()
    finally:
        disc.close()
    for line in ("Unit: 某市城市管理综合执法局", "Maker: 李明", "Extractor: 赵强"):
        assert line in info
    assert "Extraction-Time: 2026-12-02 19:25:07 CST (Asia/Shanghai, UTC+0800)" in info
    assert "Case: 城管罚字〔2026〕第0042号" in info
    assert "提取时间 Extraction time: 2026-12-02 19:25:07 CST (Asia/Shanghai" in note
    assert all(name in note for name in CONFIRMERS)
    assert all(clip.sha256 in note for clip in evidence.clips)
    assert pdf.startswith(b"%PDF") and b"WenQuanYi" in pdf  # the CJK font is embedded


def test_dock_export_verify_passes_an_intact_image_and_journals_it(
    evidence: Evidence, tmp_path: Path
) -> None:
    image = evidence.export().paths[0]
    config = tmp_path / "dock.toml"
    config.write_text(f'[dock]\ndata_dir = "{evidence.data_dir}"\n')
    done = run_dock("--config", str(config), "export", "verify", str(image))
    assert done.returncode == 0, done.stderr
    assert "intact" in done.stdout
    with evidence.db.transaction() as session:
        rows = journal.read_after(session, 0, limit=100)
    written = [r for r in rows if r.type == "export.written"]
    verified = [r for r in rows if r.type == "export.verified"]
    assert written[0].data["confirmers"] == list(CONFIRMERS)
    assert verified[0].data["image_sha256"] in written[0].data["image_sha256s"]
    assert verified[0].data["is_intact"] is True


@pytest.mark.parametrize("inside", ["clip two ", "Maker: ", "BagIt-Version", "Copy 1 of 2"])
def test_a_flipped_byte_in_any_file_is_found(
    evidence: Evidence, tmp_path: Path, inside: str
) -> None:
    image = evidence.export().paths[0]
    raw = bytearray(image.read_bytes())
    at = raw.find(inside.encode())
    assert at > 0
    raw[at + 1] ^= 0x01
    image.write_bytes(bytes(raw))
    problems = verify_image(image)
    assert problems, f"a flipped byte in {inside!r} went unnoticed"
    elsewhere = tmp_path / "not-a-dock.toml"  # any machine: no dock data, nothing journaled
    elsewhere.write_text(f'[dock]\ndata_dir = "{tmp_path / "elsewhere"}"\n')
    done = run_dock("--config", str(elsewhere), "export", "verify", str(image))
    assert done.returncode == 1
    assert "NOT INTACT" in done.stderr and "Traceback" not in done.stderr


def test_chinese_names_survive_in_joliet_and_udf(evidence: Evidence, tmp_path: Path) -> None:
    image = evidence.export().paths[0]
    for tree in ("joliet", "udf"):
        clips = extract(image, tree, tmp_path / tree) / "bag" / "data" / "clips"
        assert (clips / "执法记录_城管_现场.MP4").read_bytes() == b"clip two " * 30_000
        assert (clips / "20261130_091502_ZFY00001_310115.MP4").is_file()


def test_a_long_chinese_name_is_shortened_within_joliets_byte_limit(tmp_path: Path) -> None:
    evidence = Evidence(tmp_path)
    evidence.add(LONG_CHINESE, b"long")
    evidence.add(LONG_CHINESE, b"long name twin")
    image = evidence.export().paths[0]
    names = sorted(
        p.name for p in (extract(image, "udf", tmp_path / "u") / "bag/data/clips").iterdir()
    )
    assert len(names) == 2 and all(n.endswith(".MP4") for n in names)
    assert all(len(n.encode()) <= JOLIET_NAME_MAX_BYTES for n in names)
    assert names[0].startswith("城市管理综合执法局")
    assert (
        sorted(
            p.name for p in (extract(image, "joliet", tmp_path / "j") / "bag/data/clips").iterdir()
        )
        == names
    )
    assert verify_image(image) == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_clip_over_4_gib_goes_on_the_disc_and_verifies(tmp_path: Path) -> None:
    evidence = Evidence(tmp_path)
    sparse = tmp_path / "big"
    with open(sparse, "wb") as f:
        f.truncate((5 << 30) + 17)  # past 4 GiB: ISO-9660 needs multi-extent, UDF one entry
        f.seek(5 << 30)
        f.write(b"end of clip")
    evidence.add_file("DCIM/20261130/大文件.MP4", sparse)
    image = evidence.export().paths[0]
    disc = read_disc(image)
    try:
        for tree in ("joliet", "udf"):
            path = "/bag/data/clips/大文件.MP4"
            record = disc.get_record(**{f"{tree}_path": path})
            assert record.get_data_length() == (5 << 30) + 17
            with disc.open_file_from_iso(**{f"{tree}_path": path}) as f:
                f.seek(5 << 30)
                assert f.read(11) == b"end of clip"
    finally:
        disc.close()
    assert verify_image(image) == []


def run_dock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dock.cli", *args], capture_output=True, text=True, timeout=300
    )
