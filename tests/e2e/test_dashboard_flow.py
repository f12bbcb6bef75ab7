"""The dashboard served by `dock-registry serve`, fed by a real `dock serve --simulate` through
the real broker and PostgreSQL, looked at in headless Chromium: what it says, and its pixels.

The registry's config names a public key for dock-a that is not the dock's own, so the dock's
signed checkpoint (written at its clean stop) raises a real alert for the page to show.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image
from selenium.webdriver.common.by import By

from registry.derived import CHECKPOINT_SIGNATURE
from tests.e2e.conftest import Flow, alert_kinds, dock_rows, held_dock, held_rows
from tests.servers.chromium import chromium  # noqa: F401 - the fixture, by name

GREY_STOPPED = (0x66, 0x66, 0x66)
ALERT_PINK = (0xFF, 0xD7, 0xD7)


def _colour_share(img: Image.Image, rgb: tuple[int, int, int], tol: int = 8) -> float:
    pixels = list(img.convert("RGB").get_flattened_data())
    near = sum(1 for p in pixels if all(abs(p[i] - rgb[i]) <= tol for i in range(3)))
    return near / len(pixels)


def _ink(img: Image.Image, rect: dict[str, float]) -> int:
    """Non-white pixels in an element's box: glyphs drawn, not tofu-free blank space."""
    box = (int(rect["x"]), int(rect["y"]), int(rect["x"] + rect["width"]),
           int(rect["y"] + rect["height"]))  # fmt: skip
    return sum(1 for p in img.crop(box).convert("L").get_flattened_data() if p < 128)


def test_the_dashboard_shows_a_reporting_dock_its_bays_and_its_alert_in_zh_and_en(
    flow: Flow,
    chromium,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    not_its_key = (
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    url = flow.new_database()
    registry, port = flow.registry(
        url, command="serve", extra=f'[dock_keys]\n"dock-a" = "{not_its_key.hex()}"\n'
    )
    engine = flow.engine(url)
    data_dir = flow.dock_dir("dock-a")
    dock = flow.dock(data_dir, "dock-a")
    flow.wait("the dock's rows", lambda: len(held_rows(engine, "dock-a")) >= 10, 60)
    assert dock.stop() == 0
    flow.wait("the checkpoint's alert",
              lambda: CHECKPOINT_SIGNATURE in alert_kinds(engine, "dock-a"))  # fmt: skip
    flow.wait("`stopped`", lambda: held_dock(engine, "dock-a").availability == "stopped", 90)  # type: ignore[union-attr]
    assert len(held_rows(engine, "dock-a")) == len(dock_rows(data_dir))

    shots: dict[str, Image.Image] = {}
    ink: dict[str, int] = {}
    for lang in ("zh", "en"):
        chromium.get(f"http://127.0.0.1:{port}/?lang={lang}")
        docks = chromium.find_elements(By.CSS_SELECTOR, "tr.dock")
        assert [row.text.split()[0] for row in docks] == ["dock-a"]
        bays = chromium.find_elements(By.CSS_SELECTOR, "tr.bay")
        assert bays and all(row.text.startswith("dock-a") for row in bays)
        alerts = [row.text for row in chromium.find_elements(By.CSS_SELECTOR, "tr.alert")]
        assert any(CHECKPOINT_SIGNATURE in text for text in alerts), alerts
        shot = tmp_path / f"dashboard-{lang}.png"
        assert chromium.save_screenshot(str(shot))
        img = Image.open(shot)
        shots[lang] = img
        assert len(set(img.convert("L").get_flattened_data())) > 10, "the page is blank"
        assert _colour_share(img, ALERT_PINK) > 0.001, "the alert row's pink is not on screen"
        assert _colour_share(img, GREY_STOPPED) > 0.0001, "the `stopped` badge is not on screen"
        ink[lang] = _ink(img, chromium.find_element(By.TAG_NAME, "h1").rect)
    assert chromium.title != "" and ink["zh"] > 50, "the Chinese title drew no glyphs"
    assert list(shots["zh"].convert("L").get_flattened_data()) != list(
        shots["en"].convert("L").get_flattened_data()
    )
    assert registry.stop() == 0, registry.output()
