"""Sampling audits in the custodians' pages: the auditor draws a period's sample (its seed
shown and journaled, the same as `draw` gives), sees it per officer, scores a clip against
the configured checklist; the score is in the journal and the period report. An officer
may not draw or score. In Chromium, a scored clip's lamps are read from the screenshot."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from dock.journal import read_after
from dock.retention import sampling
from dock.retention.models import AuditSample, AuditScore
from tests.integration.people_setup import START
from tests.integration.test_web_browser import WAIT_S, sign_in
from tests.integration.web_setup import Served, csrf_of, served  # noqa: F401
from tests.servers.chromium import chromium  # noqa: F401

PERIOD = {"since": "2026-12-01", "until": "2026-12-03"}
SEED = "20261201"
GREEN, RED = (0x1F, 0xA6, 0x4A), (0xD0, 0x31, 0x2D)  # .lamp.green, .lamp.red (dock.css)


def add_shift(served: Served) -> list[tuple[int, str]]:  # noqa: F811
    """Officer 1001's three clips and officer 1002's one, recorded within PERIOD."""
    clips = []
    for i, officer in enumerate(("1001", "1001", "1001", "1002")):
        start = START + timedelta(hours=i)
        clip_id = served.people.add_clip(
            f"clip {i}".encode() * 100, officer_number=officer, recorded_start_utc=start,
            recorded_end_utc=start + timedelta(hours=1),
        )  # fmt: skip
        clips.append((clip_id, officer))
    return clips


def draw_in_page(client, seed: str = SEED) -> int:  # type: ignore[no-untyped-def]
    form = {"csrf": csrf_of(client, "/samples"), "seed": seed, **PERIOD}
    drawn = client.post("/samples", data=form)
    assert drawn.status_code == 303, drawn.text
    return int(drawn.headers["location"].rsplit("/", 1)[1])


def journal(served: Served, kind: str) -> list[dict]:  # noqa: F811
    with served.people.db.transaction() as session:
        return [e.data for e in read_after(session, 0, limit=100_000) if e.type == kind]


def scores(served: Served) -> int:  # noqa: F811
    with served.people.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AuditScore)) or 0)


def test_an_auditor_draws_and_scores_and_the_journal_and_report_count_it(served: Served):  # noqa: F811
    clips = add_shift(served)
    expected = sampling.draw(clips, served.people.settings.retention.sample_share, int(SEED))
    assert len(expected) == 2  # one of each officer's at the default 5%
    with served.signed_in("audrey") as auditor:
        sample_id = draw_in_page(auditor)
        shown = auditor.get(f"/samples/{sample_id}").text
        assert f'<td id="seed">{SEED}</td>' in shown
        listed = [
            int(n)
            for n in re.findall(r'<tr class="sampled" id="clip-\d+" data-clip="(\d+)"', shown)
        ]
        assert listed == expected  # the seed draws the same clips as the domain's draw
        assert 'data-officer="1001"' in shown and 'data-officer="1002"' in shown
        clip = expected[0]
        assert f'<a href="/clips/{clip}">' in shown
        form_page = auditor.get(f"/samples/{sample_id}/clips/{clip}").text
        assert form_page.count('class="item"') == 4 and "应记录的事件已记录" in form_page
        token = csrf_of(auditor, f"/samples/{sample_id}/clips/{clip}")
        partial = {"csrf": token, "item0": "pass", "comment": "未答完"}
        missing = auditor.post(f"/samples/{sample_id}/clips/{clip}", data=partial)
        assert missing.status_code == 400 and "缺少" in missing.text  # "missing:", in Chinese
        assert scores(served) == 0
        answers = {"item0": "pass", "item1": "fail", "item2": "pass", "item3": "pass"}
        form = {"csrf": token, **answers, "comment": "第14分钟画面中断"}
        assert auditor.post(f"/samples/{sample_id}/clips/{clip}", data=form).status_code == 303
        after = auditor.get(f"/samples/{sample_id}").text
        assert after.count('data-passed="yes"') == 3 and after.count('data-passed="no"') == 1
        report = auditor.get("/report.csv", params=PERIOD).text
    [drawn] = journal(served, "audit.sample_drawn")
    assert drawn["seed"] == int(SEED) and drawn["clip_count"] == 2
    [scored] = journal(served, "audit.sample_scored")
    checklist = served.people.settings.retention.checklist
    assert scored == {
        "sample_id": sample_id,
        "clip_id": clip,
        "passed": [checklist[0], checklist[2], checklist[3]],
        "failed": [checklist[1]],
        "comment": "第14分钟画面中断",
    }
    rows = {r["officer_number"]: r for r in csv.DictReader(io.StringIO(report))}
    officer = dict(clips)[clip]
    assert (rows[officer]["sample_answers"], rows[officer]["sample_passed"]) == ("4", "3")
    assert rows[officer]["sample_score_pct"] == "75.0"


def test_a_rescore_in_the_page_needs_a_comment_and_replaces_the_earlier_score(served: Served):  # noqa: F811
    clips = add_shift(served)
    with served.signed_in("audrey") as auditor:
        sample_id = draw_in_page(auditor)
        clip = int(re.findall(r'data-clip="(\d+)"', auditor.get(f"/samples/{sample_id}").text)[0])
        url = f"/samples/{sample_id}/clips/{clip}"
        token = csrf_of(auditor, url)
        all_met = {"item0": "pass", "item1": "pass", "item2": "pass", "item3": "pass"}
        one_missed = {**all_met, "item1": "fail"}
        assert auditor.post(url, data={"csrf": token, **one_missed}).status_code == 303
        assert 'id="rescore"' in auditor.get(url).text  # the form says it is a rescore
        refused = auditor.post(url, data={"csrf": token, **all_met, "comment": " "})
        assert refused.status_code == 400 and "须填写说明原因的备注" in refused.text
        assert scores(served) == 4
        why = {"comment": "复看后确认交接记录完整"}
        assert auditor.post(url, data={"csrf": token, **all_met, **why}).status_code == 303
        shown = auditor.get(f"/samples/{sample_id}").text
        report = auditor.get("/report.csv", params=PERIOD).text
    [first] = [e for e in journal(served, "audit.sample_scored") if e["clip_id"] == clip]
    [again] = journal(served, "audit.sample_rescored")
    with served.people.db.transaction() as session:
        [(first_id, again_id)] = session.execute(
            select(func.min(AuditScore.entry_id), func.max(AuditScore.entry_id))
        ).all()
    assert first["failed"] and again["failed"] == [] and again["replaces"] == first_id
    assert f'data-entry="{first_id}" data-replaced-by="{again_id}"' in shown
    assert f'data-entry="{again_id}" data-replaces="{first_id}"' in shown
    assert f"重新评分，取代日志第 {first_id} 行" in shown and "不计入" in shown
    rows = {r["officer_number"]: r for r in csv.DictReader(io.StringIO(report))}
    officer = dict(clips)[clip]
    assert (rows[officer]["sample_answers"], rows[officer]["sample_passed"]) == ("4", "4")


def test_an_officer_may_not_draw_or_score(served: Served):  # noqa: F811
    add_shift(served)
    with served.signed_in("audrey") as auditor:
        sample_id = draw_in_page(auditor)
        clip = int(re.findall(r'data-clip="(\d+)"', auditor.get(f"/samples/{sample_id}").text)[0])
    with served.signed_in("olga") as olga:
        assert olga.get("/samples").status_code == 403
        token = csrf_of(olga, "/holds")  # any page of hers carries the session's token
        assert olga.post("/samples", data={"csrf": token, **PERIOD}).status_code == 403
        form = {"csrf": token, "item0": "pass", "item1": "pass", "item2": "pass", "item3": "pass"}
        assert olga.post(f"/samples/{sample_id}/clips/{clip}", data=form).status_code == 403
    with served.people.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditSample)) == 1
    assert scores(served) == 0


def colour_share(shot: Path, rect: dict, colour: tuple[int, int, int]) -> float:
    """The share of the element's pixels within a few levels of colour."""
    screen = Image.open(shot).convert("RGB")
    box = (int(rect["x"]), int(rect["y"]), int(rect["x"] + rect["width"]),
           int(rect["y"] + rect["height"]))  # fmt: skip
    pixels = list(screen.crop(box).get_flattened_data())
    near = sum(1 for p in pixels if all(abs(p[i] - colour[i]) <= 8 for i in range(3)))
    return near / len(pixels)


def test_an_auditor_scores_a_sampled_clip_in_the_browser(
    served: Served,  # noqa: F811
    chromium: WebDriver,  # noqa: F811
    tmp_path: Path,
):
    add_shift(served)
    sign_in(chromium, served.url, "audrey")
    chromium.get(served.url + "/samples")
    form = chromium.find_element(By.ID, "draw")
    for name, value in {**PERIOD, "seed": SEED}.items():
        field = form.find_element(By.NAME, name)
        chromium.execute_script("arguments[0].value = arguments[1]", field, value)
    form.find_element(By.CSS_SELECTOR, "button").click()
    WebDriverWait(chromium, WAIT_S).until(lambda d: d.find_elements(By.ID, "seed"))
    assert chromium.find_element(By.ID, "seed").text == SEED
    chromium.find_element(By.CSS_SELECTOR, "tr.sampled a.score").click()
    score = WebDriverWait(chromium, WAIT_S).until(lambda d: d.find_element(By.ID, "score"))
    items = score.find_elements(By.CSS_SELECTOR, "fieldset.item")
    for n, item in enumerate(items):
        item.find_element(By.CSS_SELECTOR, f'input[value="{"fail" if n == 1 else "pass"}"]').click()
    score.find_element(By.NAME, "comment").send_keys("交接记录不全")
    score.find_element(By.CSS_SELECTOR, "button").click()
    WebDriverWait(chromium, WAIT_S).until(lambda d: d.find_elements(By.ID, "scored"))
    lamps = chromium.find_elements(By.CSS_SELECTOR, ".scoring .lamp")
    assert [lamp.get_attribute("data-passed") for lamp in lamps] == ["yes", "no", "yes", "yes"]
    shot = tmp_path / "scored.png"
    chromium.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    rects = chromium.execute_script(
        "var ratio = window.devicePixelRatio;"  # where each lamp is on the screenshot
        "return Array.from(document.querySelectorAll('.scoring .lamp')).map(function (e) {"
        "  var r = e.getBoundingClientRect();"
        "  return {x: r.x * ratio, y: r.y * ratio, width: r.width * ratio,"
        "          height: r.height * ratio}; });"
    )
    assert colour_share(shot, rects[0], GREEN) > 0.5  # a green lamp is drawn, not only named
    assert colour_share(shot, rects[1], RED) > 0.5
    assert colour_share(shot, rects[1], GREEN) < 0.05
    assert "交接记录不全" in chromium.find_element(By.CSS_SELECTOR, ".scoring .comment").text
    assert len(journal(served, "audit.sample_scored")) == 1
