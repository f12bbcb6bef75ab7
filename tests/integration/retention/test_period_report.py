"""The period report: numbers checked exactly against a crafted period, charts looked at."""

from __future__ import annotations

import io
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta

import pytest
from PIL import Image

from dock import journal
from dock.db.models import ExemptionRow, InterruptionRow
from dock.events import StoreObjectChecked
from dock.period_report import numbers, render
from dock.retention import sampling
from tests.integration.retention.conftest import NOW

START, END = NOW - timedelta(days=30), NOW
UNIT_A, UNIT_B = "城东派出所", "交警大队"


def interruption(key, officer, days_old, reason, status):
    at = NOW - timedelta(days=days_old)
    return InterruptionRow(
        key=key,
        device_serial="ZFY1",
        officer_number=officer,
        start_utc=at,
        end_utc=at + timedelta(minutes=5),
        reason_code=reason,
        found="dock",
        status=status,
        found_at_utc=at,
    )


@dataclass(frozen=True)
class CheckWithoutOfficer:
    """A store.object_checked row as written before the event carried officer_number."""

    sha256: str
    outcome: str
    type = StoreObjectChecked.type
    bay = None
    device = None

    def data(self) -> dict[str, str]:
        return {"sha256": self.sha256, "outcome": self.outcome, "algorithm": "sha256"}


@pytest.fixture
def crafted(make_records):
    """Officer 001 (unit A): 3 clips of 30 min, one late; 002 (unit B): 1 clip of 60 min."""
    records = make_records(sample_share=1.0, checklist=["recorded", "continuous"])
    records.add_officer("001", UNIT_A)
    records.add_officer("002", UNIT_B)
    a = [
        records.add_clip(days_old=d, officer="001", minutes=30, handover_h=h, is_late=late)
        for d, h, late in ((1, 2, False), (2, 4, False), (3, 30, True))
    ]
    records.add_clip(days_old=5, officer="002", minutes=60, handover_h=6)
    records.add_clip(days_old=40, officer="001")  # before the period: not counted
    shas = [records.sha_of(clip) for clip in a]
    with records.db.transaction() as session:
        session.add_all(
            [
                interruption("i1", "001", 1, 2, "explained_in_writing"),
                interruption("i2", "001", 2, 2, "unexplained"),
                interruption("i3", "002", 3, 6, "unexplained"),
                interruption("i4", "002", 45, 6, "unexplained"),  # outside
            ]
        )
        session.add(
            ExemptionRow(
                category="secrecy",
                at_utc=NOW - timedelta(days=4),
                place="x",
                officer_number="002",
                approver="li",
                note="",
                recorded_at_utc=NOW,
            )
        )
        # The first check as docks wrote it before checks named the officer (found by
        # hash), the others as the dock writes them; a check of no clip is not counted.
        checks = [
            CheckWithoutOfficer(shas[0], "intact"),
            StoreObjectChecked(sha256=shas[1], outcome="intact", officer_number="001"),
            StoreObjectChecked(sha256=shas[2], outcome="damaged", officer_number="001"),
            CheckWithoutOfficer("ee" * 32, "damaged"),
        ]
        for event in checks:
            journal.append(session, event, actor="dock", at=NOW - timedelta(hours=1))
        retention = records.settings.retention
        sample, _ = sampling.draw_sample(session, retention, START, END, seed=1, actor="a", now=NOW)
        sampling.score(
            session,
            retention,
            sample.id,
            a[0],
            passed=("recorded",),
            failed=("continuous",),
            comment="",
            actor="a",
            now=NOW,
        )
    with closing(sqlite3.connect(records.db_path)) as raw:
        return numbers.build_report(raw, START, END)


def test_report_numbers_match_the_crafted_period_exactly(crafted):
    assert [render.row_of(o) for o in crafted.lines] == [
        # unit, officer, clips, hours, handover mean/max h, late, interruptions expl/unexpl,
        # exemptions, viewings, exports, fixity intact/failed, sample answers/passed/score
        (
            UNIT_B,
            "002",
            "1",
            "1.00",
            "6.00",
            "6.00",
            "0",
            "0",
            "1",
            "1",
            "0",
            "0",
            "0",
            "0",
            "0",
            "0",
            "",
        ),
        (
            UNIT_A,
            "001",
            "3",
            "1.50",
            "12.00",
            "30.00",
            "1",
            "1",
            "1",
            "0",
            "0",
            "0",
            "2",
            "1",
            "2",
            "1",
            "50.0",
        ),
    ]
    [b, a] = crafted.lines
    assert a.by_reason == {"battery": [1, 1]}
    assert b.by_reason == {"obstruction": [0, 1]}


def test_report_csv_has_a_header_and_one_row_per_officer(crafted):
    lines = render.to_csv(crafted).splitlines()
    assert lines[0].split(",") == list(render.CSV_HEADER)
    assert [line.split(",")[1] for line in lines[1:]] == ["002", "001"]


def bar_heights(png: bytes, colour: str) -> list[int]:
    """The height in pixels of each bar of one colour, left to right (not legend swatches)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    width, height = image.size
    pixels = image.load()
    columns = [sum(pixels[x, y] == want for y in range(height)) for x in range(width)]
    bars, current = [], 0
    for count in [*columns, 0]:
        if count:
            current = max(current, count)
        elif current:
            bars.append(current)
            current = 0
    return [h for h in bars if h > 20]


def test_report_charts_are_rendered_with_bars_in_proportion(crafted, tmp_path):
    written = render.write_all(crafted, tmp_path / "out")
    assert sorted(p.name for p in written) == [
        "clips.png",
        "interruptions.png",
        "report.csv",
        "report.html",
        "report.pdf",
    ]
    clips = bar_heights((tmp_path / "out" / "clips.png").read_bytes(), render.CLIPS_COLOUR)
    assert len(clips) == 2
    assert clips[1] == pytest.approx(3 * clips[0], abs=3)  # 001's 3 clips against 002's 1
    interruptions = (tmp_path / "out" / "interruptions.png").read_bytes()
    # unit B: 0 explained, 1 unexplained; unit A: 1 explained with 1 unexplained on top
    [explained] = bar_heights(interruptions, render.EXPLAINED_COLOUR)
    [unexplained_b, unexplained_a] = bar_heights(interruptions, render.UNEXPLAINED_COLOUR)
    assert unexplained_b == pytest.approx(explained, abs=2)
    assert unexplained_a == pytest.approx(explained, abs=2)
    pdf = (tmp_path / "out" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf_pages(pdf) == 3  # the numbers, then two charts
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert UNIT_A in html and html.count("data:image/png;base64,") == 2


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page[^s]", pdf))


def test_the_pdf_numbers_run_over_as_many_pages_as_the_officers_need(tmp_path):
    lines = [numbers.OfficerLine(UNIT_A, f"{n:03d}", clips=n) for n in range(41)]
    report = numbers.PeriodReport(START, END, lines)
    figures = render.charts(report)
    render.to_pdf(report, figures, tmp_path / "report.pdf")
    assert render.PDF_ROWS_PER_PAGE == 40
    # 41 officers: two pages of numbers, then the two charts
    assert pdf_pages((tmp_path / "report.pdf").read_bytes()) == 2 + 2


def test_report_charts_use_a_font_with_chinese_glyphs():
    from matplotlib import font_manager

    path = font_manager.findfont(render.CJK_FONT, fallback_to_default=False)
    font = font_manager.get_font(path)
    assert all(font.get_char_index(ord(ch)) for ch in UNIT_A)
