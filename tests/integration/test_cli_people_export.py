"""An approved export is written only once two distinct people have confirmed it at the dock,
by one of them, and `dock export verify` then passes on both images (003 art.21, 000 art.14).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_cli_people import SETTINGS, DockCli

CASE = "城管罚字〔2026〕第0042号"


@pytest.fixture
def cli(tmp_path: Path):
    made = DockCli(tmp_path, SETTINGS)
    yield made
    assert made.people is not None
    made.people.close()


def approved_export(cli: DockCli) -> str:
    """Two clips of one case, asked for by an officer, reviewed and approved as configured."""
    assert cli.people is not None
    for content in (b"first clip " * 20_000, b"second clip " * 10_000):
        cli.people.add_clip(content, case_number=CASE, source_path="DCIM/执法记录.MP4")
    out = cli.ok("request", "export", "--case", CASE, "--reason", "court order 9", user="olga")
    request_id = out.split()[1].rstrip(":")
    cli.ok("review", request_id, "--note", "lawful", user="lena")
    cli.ok("approve", request_id, user="leo")
    return request_id


def test_an_export_confirmed_by_one_person_or_twice_by_the_same_is_not_written(
    cli: DockCli, tmp_path: Path
) -> None:
    request_id = approved_export(cli)
    assert "(1 of 2)" in cli.ok("export", "confirm", request_id, user="cora")
    run = ("export", "run", request_id, "--out", str(tmp_path / "discs"))
    assert "needs 2 different people to confirm it; 1 have" in cli.fails(*run, user="cora")
    assert "cora has confirmed already" in cli.fails("export", "confirm", request_id, user="cora")
    assert "needs 2 different people" in cli.fails(*run, user="cora")
    assert not (tmp_path / "discs").exists()
    assert cli.request_row(int(request_id)).state == "approved"


def test_only_someone_who_confirmed_an_export_writes_it(cli: DockCli, tmp_path: Path) -> None:
    request_id = approved_export(cli)
    cli.ok("export", "confirm", request_id, user="cora")
    cli.ok("export", "confirm", request_id, user="carl")
    line = cli.fails("export", "run", request_id, "--out", str(tmp_path / "discs"), user="leo")
    assert "leo has not confirmed export" in line
    assert not (tmp_path / "discs").exists()


def test_two_confirmations_write_two_images_that_verify_and_spend_the_approval(
    cli: DockCli, tmp_path: Path
) -> None:
    request_id = approved_export(cli)
    cli.ok("export", "confirm", request_id, user="cora")
    assert "confirmed by cora, carl (2 of 2)" in cli.ok(
        "export", "confirm", request_id, user="carl"
    )
    out = cli.ok("export", "run", request_id, "--out", str(tmp_path / "discs"), user="carl")
    images = sorted((tmp_path / "discs").glob("*.iso"))
    assert [p.name[-9:] for p in images] == ["copy1.iso", "copy2.iso"]
    assert all(str(p) in out for p in images)
    for image in images:
        assert "intact" in cli.ok("export", "verify", str(image))
    row = cli.request_row(int(request_id))
    assert row.state == "carried_out" and row.carried_out_at_utc is not None
    assert cli.steps()[-3:] == [
        ("confirmed", "staff:cora"),
        ("confirmed", "staff:carl"),
        ("carried_out", "staff:carl"),
    ]
    again = cli.fails("export", "run", request_id, "--out", str(tmp_path / "more"), user="cora")
    assert "carried_out" in again and "it must be approved" in again


def test_the_discs_name_both_confirmers_and_the_agency_as_unit(
    cli: DockCli, tmp_path: Path
) -> None:
    from tests.integration.disc_setup import read_disc

    request_id = approved_export(cli)
    for user in ("cora", "carl"):
        cli.ok("export", "confirm", request_id, user=user)
    cli.ok("export", "run", request_id, "--out", str(tmp_path / "discs"), user="cora")
    image = sorted((tmp_path / "discs").glob("*copy1.iso"))[0]
    disc = read_disc(image)
    try:
        with disc.open_file_from_iso(joliet_path="/bag/bag-info.txt") as f:
            info = f.read().decode()
    finally:
        disc.close()
    assert "Unit: 某市城市管理综合执法局" in info
    assert "Maker: Cora (cora)" in info and "Extractor: Carl (carl)" in info
    assert f"Case: {CASE}" in info
