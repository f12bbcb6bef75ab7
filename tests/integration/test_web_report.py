"""The period report in the custodians' pages: the numbers of the period asked, its charts
as PNG drawn on the server, and the CSV; only for those who read the registers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.people_setup import START
from tests.integration.test_web_browser import WAIT_S, sign_in
from tests.integration.web_setup import Served, served  # noqa: F401
from tests.servers.chromium import chromium  # noqa: F401

PERIOD = {"since": "2026-12-01", "until": "2026-12-03"}


def add_shift(served: Served) -> None:  # noqa: F811
    """Officer 1001's three clips of an hour each, and officer 1002's one, within PERIOD."""
    for i, officer in enumerate(("1001", "1001", "1001", "1002")):
        start = START + timedelta(hours=i)
        served.people.add_clip(
            f"clip {i}".encode() * 100, officer_number=officer, recorded_start_utc=start,
            recorded_end_utc=start + timedelta(hours=1),
        )  # fmt: skip


def test_the_auditor_reads_the_periods_numbers_and_its_csv(served: Served):  # noqa: F811
    add_shift(served)
    with served.signed_in("audrey") as auditor:
        page = auditor.get("/report", params=PERIOD)
        got = auditor.get("/report.csv", params=PERIOD)
    assert page.status_code == 200, page.text
    assert "2026-12-01 – 2026-12-03" in page.text
    rows = {r["officer_number"]: r for r in csv.DictReader(io.StringIO(got.text))}
    assert got.headers["content-type"].startswith("text/csv")
    assert rows["1001"]["clips"] == "3" and rows["1002"]["clips"] == "1"
    assert float(rows["1001"]["hours_recorded"]) == 3.0
    assert page.text.count('<tr class="officer">') == len(rows)


def test_an_officer_may_not_read_the_report_and_a_bad_date_is_one_line(served: Served):  # noqa: F811
    with served.signed_in("olga") as officer:
        refused = officer.get("/report", params=PERIOD)
    with served.signed_in("leo") as leader:
        bad = leader.get("/report", params={"since": "yesterday"})
    assert refused.status_code == 403 and "1001" not in refused.text
    assert bad.status_code == 400 and "2026-10-01" in bad.text


def test_the_charts_are_png_drawn_on_the_server_and_show_in_the_browser(
    served: Served,  # noqa: F811
    chromium: WebDriver,  # noqa: F811
    tmp_path: Path,
):
    add_shift(served)
    with served.signed_in("audrey") as auditor:
        names = ("clips", "interruptions")
        pngs = {n: auditor.get(f"/report/{n}.png", params=PERIOD) for n in names}
    for response in pngs.values():
        assert response.headers["content-type"] == "image/png"
        chart = Image.open(io.BytesIO(response.content)).convert("RGB")
        colours = chart.getcolors(maxcolors=1 << 16) or []
        assert chart.width > 300 and len(colours) > 20  # bars, axes and labels, not blank
    sign_in(chromium, served.url, "audrey")
    chromium.get(served.url + "/report?since=2026-12-01&until=2026-12-03")
    WebDriverWait(chromium, WAIT_S).until(
        lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
            for img in d.find_elements(By.CSS_SELECTOR, "img.chart")
        )
    )
    assert len(chromium.find_elements(By.CSS_SELECTOR, "img.chart")) == 2
    shot = tmp_path / "report.png"
    chromium.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    screen = Image.open(shot).convert("RGB")
    colours = screen.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # the table, the charts and Chinese glyphs, not an empty page
