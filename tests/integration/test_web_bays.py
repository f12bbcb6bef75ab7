"""The bays page in headless Chromium shows each bay's light as the LED shows it and follows
the journal live (server-sent events): a bay that turns ready turns green on the same page,
without a reload."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from dock import journal
from dock.db.models import Bay
from dock.events import BayStateChanged
from tests.integration.people_setup import START
from tests.integration.test_web_browser import sign_in
from tests.integration.web_setup import Served, served  # noqa: F401
from tests.servers.chromium import chromium  # noqa: F401

GREEN = (0x1F, 0xA6, 0x4A)  # .lamp.green in dock.css
AMBER = (0xF0, 0xA3, 0x0A)


def set_bay(pages: Served, number: int, state: str, before: str, reason: str = "") -> None:
    """What the bay machine does: the row and its journal entry in one transaction."""
    with pages.people.db.transaction() as session:
        bay = session.get(Bay, number)
        if bay is None:
            bay = Bay(number=number, state=state, reason=reason, updated_at=START)
            session.add(bay)
        bay.state, bay.reason, bay.device_serial = state, reason, "ZFY00001"
        happened = BayStateChanged(
            bay=number, device="ZFY00001", from_state=before, to_state=state, trigger="test",
            reason=reason,
        )  # fmt: skip
        journal.append(session, happened, actor="test", at=START)


def has_colour(shot: Path, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    pixels = Image.open(shot).convert("RGB").get_flattened_data()
    return any(all(abs(p[i] - rgb[i]) <= tolerance for i in range(3)) for p in pixels)


def test_the_bays_page_shows_the_lights_and_follows_the_journal_live(
    served: Served,  # noqa: F811
    chromium: WebDriver,  # noqa: F811
    tmp_path: Path,
):
    set_bay(served, 2, "attention", "checking", reason="电量不足 (62%)，请充电")
    sign_in(chromium, served.url, "cora")
    row = WebDriverWait(chromium, 20).until(
        lambda d: d.find_element(By.CSS_SELECTOR, 'tr.bay[data-bay="2"]')
    )
    assert row.get_attribute("data-light") == "attention"
    assert "需要处理" in row.text and "电量不足" in row.text
    before = tmp_path / "bays-before.png"
    chromium.save_screenshot(str(before))
    assert has_colour(before, AMBER) and not has_colour(before, GREEN)
    chromium.execute_script("window.__same_page = true")

    set_bay(served, 2, "ready", "attention")
    WebDriverWait(chromium, 20).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, 'tr.bay[data-bay="2"]').get_attribute("data-light")
            == "ready"
        )
    )
    assert chromium.execute_script("return window.__same_page === true")  # no reload
    after = tmp_path / "bays-after.png"
    chromium.save_screenshot(str(after))
    print(f"screenshot: {after}")
    assert has_colour(after, GREEN)
    assert "就绪" in chromium.find_element(By.CSS_SELECTOR, 'tr.bay[data-bay="2"]').text
