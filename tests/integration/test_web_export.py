"""Exporting from the pages: confirmed by one person (or the same one twice) nothing is
written; confirmed by two, one of them writes two disc images whose verification, paths and
hashes the page shows, and `dock export verify`'s own check agrees."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from dock.export.verify import verify_image
from dock.offload.store import sha256_of_file
from tests.integration.test_web_browser import sign_in
from tests.integration.web_setup import Served, csrf_of, served  # noqa: F401
from tests.servers.chromium import chromium  # noqa: F401


def approved_export(pages: Served, clip_id: int) -> int:
    steps = [("olga", None), ("lena", "review"), ("leo", "approve")]
    request_id = 0
    for username, action in steps:
        with pages.signed_in(username) as person:
            if action is None:
                made = person.post(
                    "/requests",
                    data={"csrf": csrf_of(person, f"/clips/{clip_id}"), "clip_id": clip_id,
                          "kind": "export", "reason": "移送法院"},
                )  # fmt: skip
                found = re.search(r"requested=(\d+)", made.headers["location"])
                assert found
                request_id = int(found.group(1))
            else:
                done = person.post(
                    f"/requests/{request_id}/{action}",
                    data={"csrf": csrf_of(person, "/queue"), "decision": "pass"},
                )
                assert done.status_code == 303, done.text
    return request_id


def test_an_export_confirmed_by_two_people_writes_verified_images_shown_on_its_page(
    served: Served,  # noqa: F811
    chromium: WebDriver,  # noqa: F811
    tmp_path: Path,
):
    clip_id = served.people.add_clip(b"evidence " * 50_000, case_number="城管罚字〔2026〕第7号")
    request_id = approved_export(served, clip_id)
    page = f"/exports/{request_id}"
    with served.signed_in("cora") as cora, served.signed_in("carl") as carl:
        assert cora.post(f"{page}/confirm", data={"csrf": csrf_of(cora, page)}).status_code == 303
        again = cora.post(f"{page}/confirm", data={"csrf": csrf_of(cora, page)})
        assert again.status_code == 400  # the same person twice is one person
        assert "须由另一人确认" in again.text
        alone = cora.post(f"{page}/run", data={"csrf": csrf_of(cora, page)})
        assert alone.status_code == 400  # one confirmation is not enough
        assert not (served.people.settings.dock.data_dir / "exports").exists()
        assert carl.post(f"{page}/confirm", data={"csrf": csrf_of(carl, page)}).status_code == 303
        written = carl.post(f"{page}/run", data={"csrf": csrf_of(carl, page)})
        assert written.status_code == 303, written.text
        shown = carl.get(page).text
    images = sorted((served.people.settings.dock.data_dir / "exports").glob("*.iso"))
    assert [p.name[-9:] for p in images] == ["copy1.iso", "copy2.iso"]
    for image in images:
        assert verify_image(image) == []
        assert str(image) in shown
        assert sha256_of_file(image) in shown
    assert shown.count('data-intact="True"') == 2
    assert "完好" in shown  # the verification, in Chinese
    assert "cora、carl" in shown
    # And as a browser shows it: the two verified images in green, the text in Chinese glyphs.
    sign_in(chromium, served.url, "carl")
    chromium.get(served.url + page)
    cells = chromium.find_elements(By.CSS_SELECTOR, "#images .verified")
    assert [c.text for c in cells] == ["完好：已校验数据包、文字说明和标签"] * 2
    shot = tmp_path / "export.png"
    chromium.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    pixels = Image.open(shot).convert("RGB").get_flattened_data()
    verified_green = sum(1 for p in pixels if p == (0xE0, 0xF4, 0xE4))
    assert verified_green > 500, "the verified cells' green is not on screen"


def test_a_flipped_byte_in_an_image_is_found_when_the_page_checks_it_again(
    served: Served,  # noqa: F811
):
    """The page shows what the verification found, not a fixed 'intact'."""
    clip_id = served.people.add_clip(b"x" * 10_000)
    request_id = approved_export(served, clip_id)
    page = f"/exports/{request_id}"
    with served.signed_in("cora") as cora, served.signed_in("carl") as carl:
        cora.post(f"{page}/confirm", data={"csrf": csrf_of(cora, page)})
        carl.post(f"{page}/confirm", data={"csrf": csrf_of(carl, page)})
        assert carl.post(f"{page}/run", data={"csrf": csrf_of(carl, page)}).status_code == 303
        assert carl.get(page).text.count('data-intact="True"') == 2
        image = sorted((served.people.settings.dock.data_dir / "exports").glob("*.iso"))[0]
        image.chmod(0o644)
        data = bytearray(image.read_bytes())
        at = data.find(b"x" * 1000)  # inside the clip's bytes on the disc
        data[at] ^= 0xFF
        image.write_bytes(bytes(data))
        checked = cora.post(f"{page}/verify", data={"csrf": csrf_of(cora, page)})
        assert checked.status_code == 303
        shown = cora.get(page).text
    assert shown.count('data-intact="False"') == 1
    assert shown.count('data-intact="True"') == 1
    assert "不完好" in shown
