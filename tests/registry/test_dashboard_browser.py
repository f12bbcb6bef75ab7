"""The real thing: uvicorn serving the dashboard, headless Chromium reading it, pixels checked."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import create_engine, text

from registry.web.app import create_app
from tests.registry.test_dashboard import fill
from tests.servers.chromium import chromium  # noqa: F401, F811


@pytest.fixture
def served(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    dock = fill(engine, tmp_path / "dock")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield engine, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        dock.close()


def _has_colour(img, rgb, tol=30):
    return any(
        all(abs(p[i] - rgb[i]) <= tol for i in range(3)) for p in img.convert("RGB").getdata()
    )


def test_the_browser_shows_the_docks_and_an_alert_and_updates_live(served, chromium, tmp_path):  # noqa: F811
    engine, url = served
    chromium.get(url + "/?lang=zh")
    assert len(chromium.find_elements(By.CSS_SELECTOR, "tr.dock")) == 2
    assert "offloading" in chromium.find_element(By.ID, "h-bays").find_element(By.XPATH, "..").text
    shot = tmp_path / "dashboard.png"
    chromium.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    img = Image.open(shot)
    assert _has_colour(img, (0xB0, 0x00, 0x20)), "the offline badge's red is not on screen"
    assert _has_colour(img, (0xFF, 0xD7, 0xD7), tol=8), "the alert row's pink is not on screen"
    # The CJK heading is glyphs: two different Chinese headings differ in ink.
    h1 = chromium.find_element(By.TAG_NAME, "h1").rect
    h2 = chromium.find_element(By.ID, "h-docks").rect
    a = img.crop((h1["x"], h1["y"], h1["x"] + 80, h1["y"] + h1["height"])).convert("L")
    b = img.crop((h2["x"], h2["y"], h2["x"] + 80, h2["y"] + h2["height"])).convert("L")
    b = b.resize(a.size)
    assert list(a.getdata()) != list(b.getdata())
    chromium.execute_script("window.__same_page = true")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO alerts (dock_id, kind, subject, text, at)"
                " VALUES ('dock-1', 'fixity_failure', 'clip-99', 'x', 't9')"
            )
        )
    WebDriverWait(chromium, 15).until(lambda d: "fixity_failure" in d.page_source)
    assert chromium.execute_script("return window.__same_page === true")
