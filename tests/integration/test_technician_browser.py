"""Technician mode from the pages against a running `dock serve --simulate 1`: in headless
Chromium a technician enters technician mode on the bay from the Firmware page (password
asked again), the bays page shows whose mode it is, the technician reflashes the bay with a
small staged image, and the screenshots are read by their pixels; over HTTP, the mode is a
technician's only, its forms need their token, and leaving it goes through the same op."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.people_setup import PASSWORD
from tests.integration.test_firmware_batch import Served, serving
from tests.integration.test_web_browser import sign_in
from tests.integration.test_web_sampling import colour_share
from tests.integration.web_setup import csrf_of
from tests.servers.chromium import chromium  # noqa: F401

WAIT_S = 90  # a reflash: transfer, test boot, identify and check again
MARK = (0x7D, 0x1D, 0x12)  # .mark's background (dock.css): the technician mode's badge
DONE = (0xE0, 0xF4, 0xE4)  # .done's background: an outcome that went well
RECT = (
    "var r = arguments[0].getBoundingClientRect(), k = window.devicePixelRatio;"
    "return {x: r.x * k, y: r.y * k, width: r.width * k, height: r.height * k};"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path, 1) as made:  # one dock, one bay: quick
        yield made


def bay_row(driver: WebDriver, url: str, technician: str) -> bool:
    """The bays page, loaded again until bay 1 says whose technician mode it is ("": none)."""
    driver.get(url + "/")
    return bool(
        driver.find_elements(
            By.CSS_SELECTOR, f'tr.bay[data-bay="1"][data-technician="{technician}"]'
        )
    )


def test_a_technician_enters_the_mode_and_reflashes_from_the_pages_in_chromium(
    served: Served,
    chromium: WebDriver,  # noqa: F811
    tmp_path: Path,
):
    staged = served.dock("firmware", "stage", str(served.image("1.1.0", "1.0.0")))
    assert staged.exit_code == 0, staged.output
    url = served.url
    sign_in(chromium, url, "tom")
    chromium.get(url + "/firmware")
    enter = chromium.find_element(By.CSS_SELECTOR, 'tr.bay[data-bay="1"] form.enter')
    enter.find_element(By.NAME, "password").send_keys(PASSWORD)
    enter.find_element(By.CSS_SELECTOR, "button").click()
    said = WebDriverWait(chromium, WAIT_S).until(lambda d: d.find_element(By.ID, "outcome"))
    assert said.text == "仓位 1：技术人员模式（tom）"

    WebDriverWait(chromium, WAIT_S).until(lambda d: bay_row(d, url, "tom"))
    badge = chromium.find_element(By.CSS_SELECTOR, 'tr.bay[data-bay="1"] .mark.technician')
    assert badge.text == "技术人员模式：tom"
    shot = tmp_path / "technician-mode.png"
    chromium.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert colour_share(shot, chromium.execute_script(RECT, badge), MARK) > 0.3  # drawn

    chromium.get(url + "/firmware")
    reflash = chromium.find_element(
        By.CSS_SELECTOR, 'tr.bay[data-bay="1"] form[action="/firmware/reflash"]'
    )
    reflash.find_element(By.NAME, "password").send_keys(PASSWORD)
    reflash.find_element(By.CSS_SELECTOR, "button").click()
    outcome = WebDriverWait(chromium, WAIT_S).until(lambda d: d.find_element(By.ID, "outcome"))
    assert outcome.get_attribute("class") == "done"
    assert "1.0.0 -> 1.1.0" in outcome.text and "已确认" in outcome.text, outcome.text
    shot = tmp_path / "reflashed.png"
    chromium.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert colour_share(shot, chromium.execute_script(RECT, outcome), DONE) > 0.5

    # The reflash ended the mode; the journal names the technician at each step.
    WebDriverWait(chromium, WAIT_S).until(lambda d: bay_row(d, url, ""))
    [entered] = served.rows("technician.mode_entered")
    assert (entered.bay, entered.actor, entered.data["username"]) == (1, "staff:tom", "tom")
    [left] = served.rows("technician.mode_left")
    assert left.data["reason"] == "reflash done" and left.id > entered.id
    [finished] = served.rows("reflash.finished")
    assert finished.data["result"] == "confirmed" and finished.id < left.id


def test_technician_mode_from_the_pages_is_a_technicians_only_and_needs_the_forms_token(served):
    with served.signed_in("olga") as officer:
        token = csrf_of(officer, "/")
        refused = officer.post(
            "/firmware/technician/enter", data={"csrf": token, "bay": "1", "password": PASSWORD}
        )
        assert refused.status_code == 403
        assert (
            officer.post("/firmware/technician/leave", data={"csrf": token, "bay": "1"}).status_code
            == 403
        )
    with served.signed_in("tom") as technician:
        forged = technician.post(
            "/firmware/technician/enter", data={"bay": "1", "password": PASSWORD}
        )
        assert forged.status_code == 403
        assert served.rows("technician.") == []
        token = csrf_of(technician, "/firmware")
        wrong = technician.post(
            "/firmware/technician/enter", data={"csrf": token, "bay": "1", "password": "not it"}
        )
        assert wrong.status_code == 400 and served.rows("technician.") == []
        entered = technician.post(
            "/firmware/technician/enter", data={"csrf": token, "bay": "1", "password": PASSWORD}
        )
        assert entered.status_code == 200 and "仓位 1：技术人员模式（tom）" in entered.text
        deadline = time.monotonic() + WAIT_S  # the bays page follows the lights' projection
        while 'data-technician="tom"' not in technician.get("/bays/rows").text:
            assert time.monotonic() < deadline, "the bays page never showed the mode"
            time.sleep(0.2)
        left = technician.post("/firmware/technician/leave", data={"csrf": token, "bay": "1"})
        assert left.status_code == 200 and "仓位 1：技术人员模式已结束" in left.text
        again = technician.post("/firmware/technician/leave", data={"csrf": token, "bay": "1"})
        assert again.status_code == 400 and "不在技术人员模式" in again.text
    assert [r.type for r in served.rows("technician.")] == [
        "technician.mode_entered",
        "technician.mode_left",
    ]
