"""The clip, classification and journal pages: a custodian classifies, search finds by the
new fields in pages of 50, marks show wherever the clip does, an officer may not classify,
and the journal page names who did it, when (agency time, zone named) and why."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from dock.db.models import JournalRow
from dock.people.marks import set_mark
from tests.integration.people_setup import START
from tests.integration.web_setup import Served, csrf_of, served  # noqa: F401


def test_a_custodian_classifies_and_search_finds_the_clip_with_its_mark(served: Served):  # noqa: F811
    people = served.people
    clip_id = people.add_clip()
    with people.db.transaction() as session:
        set_mark(session, people.sign_in("cora"), "personal_information", clip_id=clip_id,
                 reason="当事人身份证件", clock=people.clock)  # fmt: skip
    with served.signed_in("cora") as cora:
        form = {
            "csrf": csrf_of(cora, f"/clips/{clip_id}"), "case_name": "占道经营",
            "case_number": "城管罚字〔2026〕第9号", "party": "某某餐饮有限公司",
            "enforcement_type": "行政处罚", "category": "现场执法", "place": "人民路",
            "why": "立案后补录",
        }  # fmt: skip
        assert cora.post(f"/clips/{clip_id}/classify", data=form).status_code == 303
        found = cora.get("/clips", params={"party": "某某餐饮有限公司"}).text
        assert f'data-clip="{clip_id}"' in found
        assert 'data-mark="personal_information"' in found and "个人信息" in found
        assert f'data-clip="{clip_id}"' not in cora.get("/clips", params={"party": "别人"}).text
        shown = cora.get(f"/clips/{clip_id}").text
        assert "占道经营" in shown and 'data-mark="personal_information"' in shown
        ledger = cora.get("/journal").text
    assert "clip.classified" in ledger and "staff:cora" in ledger
    assert "CST" in ledger  # agency time, zone named


def test_an_officer_may_not_classify(served: Served):  # noqa: F811
    clip_id = served.people.add_clip()
    with served.signed_in("olga") as olga:
        page = olga.get(f"/clips/{clip_id}").text
        assert 'id="classify"' not in page  # no form offered
        refused = olga.post(
            f"/clips/{clip_id}/classify",
            data={"csrf": csrf_of(olga, f"/clips/{clip_id}"), "place": "别处"},
        )
        assert refused.status_code == 403  # and the command layer refuses a forged one


def test_search_pages_hold_fifty_newest_first_and_a_time_range_narrows(served: Served):  # noqa: F811
    people = served.people
    ids = [
        people.add_clip(f"clip {n}".encode(), recorded_start_utc=START + timedelta(minutes=n),
                        source_path=f"DCIM/{n}.MP4")
        for n in range(55)
    ]  # fmt: skip
    with served.signed_in("cora") as cora:
        first = cora.get("/clips").text
        second = cora.get("/clips", params={"page": 2}).text
        # START is 10:00 in Shanghai: minutes 50 to 54 are from 10:50.
        late = cora.get("/clips", params={"since": "2026-12-02T10:50"}).text
    assert first.count('class="clip"') == 50 and 'id="next"' in first
    assert second.count('class="clip"') == 5 and 'id="next"' not in second
    assert first.index(f'data-clip="{ids[54]}"') < first.index(f'data-clip="{ids[53]}"')
    assert f'data-clip="{ids[0]}"' in second
    assert late.count('class="clip"') == 5


def test_the_journal_pages_back_from_the_newest_row(served: Served):  # noqa: F811
    with served.signed_in("cora") as cora:
        newest = cora.get("/journal").text
        first_id = int(newest.split('data-id="', 1)[1].split('"', 1)[0])
        older = cora.get("/journal", params={"before": 3}).text
    with served.people.db.transaction() as session:
        head = session.scalar(select(func.max(JournalRow.id)))
    assert first_id == head  # newest first
    assert newest.count('class="entry"') == min(50, head)
    assert "staff.signed_in" in newest  # cora's own sign-in is the newest row
    assert older.count('class="entry"') == 2 and 'data-id="2"' in older
