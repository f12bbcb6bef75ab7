"""The pages in headless Chromium against a running dock: an officer signs in (after a
wrong password), asks to view a clip, a second browser signs in as the office director to
review and as the leader to approve, and the officer's <video> plays the clip by range
requests from the store; the viewing is in the register; screenshots are read."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from dock.people.models import Viewing
from tests.integration.people_setup import PASSWORD
from tests.integration.web_setup import Served, served  # noqa: F401
from tests.servers.chromium import chromium, start_chromium  # noqa: F401

WAIT_S = 20
BACKGROUND = (0xF4, 0xF6, 0xF8)  # the page's background colour (dock.css)


def a_real_video(path: Path) -> bytes:
    """Two seconds of ffmpeg's test pattern as WebM (VP8): any Chromium plays it."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
         "-t", "2", "-c:v", "libvpx", "-b:v", "200k", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path.read_bytes()


def sign_in(driver: WebDriver, url: str, username: str, password: str = PASSWORD) -> None:
    driver.get(url + "/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    # The answer has loaded (signed in, or the form again with its message): a next get
    # sent sooner would go without the session's cookie.
    WebDriverWait(driver, WAIT_S).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "header form") or d.find_elements(By.ID, "message")
        )
    )


def sign_out(driver: WebDriver) -> None:
    driver.find_element(By.CSS_SELECTOR, "header form button").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "login"))


def take_step(driver: WebDriver, url: str, request_id: int, button: str) -> None:
    driver.get(url + "/queue")
    row = driver.find_element(By.CSS_SELECTOR, f'#waiting tr[data-request="{request_id}"]')
    row.find_element(By.CSS_SELECTOR, f"button.{button}").click()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, f'#waiting tr[data-request="{request_id}"]')
    )


def ink_ratio(shot: Path) -> float:
    """The share of pixels that are not the page's background."""
    pixels = list(Image.open(shot).convert("RGB").get_flattened_data())
    near = sum(1 for p in pixels if all(abs(p[i] - BACKGROUND[i]) <= 6 for i in range(3)))
    return 1 - near / len(pixels)


def test_request_approve_in_a_second_browser_then_view_by_ranges(
    served: Served,  # noqa: F811
    chromium: WebDriver,  # noqa: F811
    tmp_path: Path,
):
    url = served.url
    clip_id = served.people.add_clip(
        a_real_video(tmp_path / "clip.webm"), source_path="DCIM/100/0001.webm",
        case_number="城管罚字〔2026〕第0042号", place="人民路与解放路交叉口",
    )  # fmt: skip
    officer = chromium
    sign_in(officer, url, "olga", "not the password")
    message = officer.find_element(By.ID, "message").text
    assert "用户名或密码错误" in message
    sign_in(officer, url, "olga")
    WebDriverWait(officer, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr.bay"))
    bays_shot = tmp_path / "bays.png"
    officer.save_screenshot(str(bays_shot))
    print(f"screenshot: {bays_shot}")
    assert ink_ratio(bays_shot) > 0.05

    officer.get(f"{url}/clips?place=人民路与解放路交叉口")
    officer.find_element(By.CSS_SELECTOR, f'#found tr[data-clip="{clip_id}"] a').click()
    form = officer.find_element(By.ID, "request")
    form.find_element(By.NAME, "reason").send_keys("核查群众投诉")
    form.find_element(By.CSS_SELECTOR, "button").click()
    made = WebDriverWait(officer, WAIT_S).until(lambda d: d.find_element(By.ID, "requested"))
    request_id = int(officer.current_url.rsplit("requested=", 1)[1])
    assert str(request_id) in made.text

    second = start_chromium(tmp_path / "second-profile")
    try:
        sign_in(second, url, "dora")  # the office director reviews a view request
        take_step(second, url, request_id, "review")
        sign_out(second)
        sign_in(second, url, "leo")  # the leader approves it
        take_step(second, url, request_id, "approve")
    finally:
        second.quit()

    officer.get(f"{url}/queue")
    officer.find_element(By.CSS_SELECTOR, f'#mine tr[data-request="{request_id}"] a.view').click()
    WebDriverWait(officer, WAIT_S).until(lambda d: d.find_elements(By.ID, "player"))
    officer.execute_script("var v = document.getElementById('player'); v.muted = true; v.play();")
    WebDriverWait(officer, WAIT_S).until(
        lambda d: d.execute_script(
            "var v = document.getElementById('player');"
            "return v.readyState >= 2 && v.videoWidth === 320 && v.currentTime > 0.3;"
        )
    )
    ranges = officer.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(function (e) { return e.name.indexOf('/stream/') >= 0; }).length;"
    )
    assert ranges >= 1
    view_shot = tmp_path / "view.png"
    officer.save_screenshot(str(view_shot))
    print(f"screenshot: {view_shot}")
    player = officer.find_element(By.ID, "player").rect
    frame = (
        Image.open(view_shot)
        .convert("RGB")
        .crop(
            (
                player["x"],
                player["y"],
                player["x"] + player["width"],
                player["y"] + player["height"],
            )
        )
    )
    colours = {
        frame.getpixel((x, y)) for x in range(0, frame.width, 8) for y in range(0, frame.height, 8)
    }
    assert len(colours) > 20, "the player shows no picture"  # testsrc is many colours
    assert "已登记" in officer.find_element(By.ID, "registered").text

    with served.people.db.transaction() as session:
        register = [(v.clip_id, v.username, v.reason) for v in session.scalars(select(Viewing))]
    assert register == [(clip_id, "olga", "核查群众投诉")]
