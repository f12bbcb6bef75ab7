"""Holds and the purge in the custodians' pages: a custodian holds a clip or a case, its
lifting waits for a review and an approval in the queue; a purge lists what expired and
why, is approved in the queue, removes only that, is in the tombstones and is undone; a
role that may not do it gets 403 and nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from dock.journal import read_after
from dock.people.models import Request
from dock.retention.models import Hold, Tombstone
from dock.retention.purge import aside_path
from tests.integration.web_setup import Served, csrf_of, served  # noqa: F401

LONG_AGO = datetime(2025, 1, 2, 2, 0, tzinfo=UTC)  # past the default 180 days


def journal_types(served: Served) -> list[str]:  # noqa: F811
    with served.people.db.transaction() as session:
        return [e.type for e in read_after(session, 0, limit=100_000)]


def step(client: httpx.Client, request_id: int, action: str, **form: str) -> None:
    """Review or approve a request through the queue's own forms."""
    token = csrf_of(client, "/queue")
    answer = client.post(f"/requests/{request_id}/{action}", data={"csrf": token, **form})
    assert answer.status_code == 303, answer.text


def approve_in_queue(served: Served, request_id: int) -> None:  # noqa: F811
    """Reviewed by the legal reviewer, approved by the leader ([people] defaults)."""
    with served.signed_in("lena") as lena:
        assert f'data-request="{request_id}"' in lena.get("/queue").text
        step(lena, request_id, "review", note="依法", decision="pass")
    with served.signed_in("leo") as leo:
        step(leo, request_id, "approve", note="同意")


def requested_id(answer: httpx.Response) -> int:
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].rsplit("requested=", 1)[1])


def count(served: Served, model: type) -> int:  # noqa: F811
    with served.people.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_custodian_holds_a_clip_and_lifts_it_only_after_an_approval(served: Served):  # noqa: F811
    clip_id = served.people.add_clip()
    with served.signed_in("olga") as olga:
        assert 'id="place"' not in olga.get("/holds").text  # no form offered to an officer
        form = {"csrf": csrf_of(olga, "/holds"), "clip_id": str(clip_id), "kind": "dispute",
                "note": "当事人投诉"}  # fmt: skip
        assert olga.post("/holds", data=form).status_code == 403
    assert count(served, Hold) == 0
    with served.signed_in("cora") as cora:
        form = {"csrf": csrf_of(cora, "/holds"), "clip_id": str(clip_id), "kind": "dispute",
                "note": "当事人投诉"}  # fmt: skip
        placed = cora.post("/holds", data=form)
        hold_id = int(placed.headers["location"].rsplit("placed=", 1)[1])
        case = {**form, "clip_id": "", "case_number": "城管罚字〔2026〕第7号", "kind": "major"}
        assert cora.post("/holds", data=case).status_code == 303
        shown = cora.get("/holds").text
        assert f'data-hold="{hold_id}"' in shown and "预计引发争议或投诉" in shown
        assert "案件 城管罚字〔2026〕第7号" in shown and "重大或敏感事项" in shown
        why = {"csrf": csrf_of(cora, "/holds"), "why": "投诉已处理完毕"}
        lift_request = requested_id(cora.post(f"/holds/{hold_id}/lift-request", data=why))
        early = cora.post(f"/holds/{hold_id}/lift", data={"csrf": why["csrf"]})
        assert early.status_code == 400  # requested, not approved: still held
        approve_in_queue(served, lift_request)
        assert "立即解除" in cora.get("/holds").text
        lifted = cora.post(f"/holds/{hold_id}/lift", data={"csrf": csrf_of(cora, "/holds")})
        assert lifted.status_code == 303
        assert f'data-hold="{hold_id}"' not in cora.get("/holds").text
    with served.people.db.transaction() as session:
        hold = session.get_one(Hold, hold_id)
        assert (hold.lifted_by, hold.lift_approved_by) == ("cora", "leo")
    assert journal_types(served).count("hold.placed") == 2
    assert "hold.lifted" in journal_types(served)


def test_a_purge_removes_what_expired_once_approved_and_is_undone(served: Served):  # noqa: F811
    people = served.people
    expired = people.add_clip(b"old " * 500, recorded_start_utc=LONG_AGO)
    people.add_clip(b"case " * 500, recorded_start_utc=LONG_AGO, case_number="城管罚字第1号")
    held = people.add_clip(b"held " * 500, recorded_start_utc=LONG_AGO)
    people.add_clip(b"new " * 500)  # recorded yesterday: far from its end
    with people.db.transaction() as session:
        session.add(Hold(clip_id=held, kind="by_hand", note="", placed_by="cora",
                         placed_at_utc=LONG_AGO))  # fmt: skip
    with people.db.transaction() as session:
        from dock.db.models import Clip

        sha = session.get_one(Clip, expired).sha256
    with served.signed_in("audrey") as auditor:  # no request.make: may not ask for a purge
        token = csrf_of(auditor, "/retention")
        refused = auditor.post("/retention/purge-request", data={"csrf": token, "why": "到期"})
        assert refused.status_code == 403
    assert count(served, Request) == 0
    with served.signed_in("cora") as cora:
        forged = cora.post("/retention/purge-request", data={"why": "no token"})
        assert forged.status_code == 403  # a POST without the session's CSRF token
        assert count(served, Request) == 0
        listed = cora.get("/retention").text
        assert (
            'data-count="1"' in listed and f'<tr class="expired" data-clip="{expired}">' in listed
        )
        assert "默认保存期 180 天" in listed  # the rule it expired under, in the agency's words
        token = csrf_of(cora, "/retention")
        purge_id = requested_id(
            cora.post("/retention/purge-request", data={"csrf": token, "why": "保存期满"})
        )
        with served.signed_in("lena") as lena:
            assert f'href="/retention?request={purge_id}"' in lena.get("/queue").text
            covered = lena.get("/retention", params={"request": purge_id}).text
            assert f'data-clip="{expired}"' in covered and 'data-count="1"' in covered
        approve_in_queue(served, purge_id)
        with served.signed_in("leo") as leo:  # the approver does not carry it out
            token = csrf_of(leo, "/retention")
            assert leo.post(f"/retention/purge/{purge_id}", data={"csrf": token}).status_code == 400
        assert people.store.path_of(sha).exists() and count(served, Tombstone) == 0
        done = cora.post(f"/retention/purge/{purge_id}", data={"csrf": csrf_of(cora, "/retention")})
        assert done.headers["location"] == "/retention?purged=1"
        assert not people.store.path_of(sha).exists() and aside_path(people.store, sha).exists()
        tombs = cora.get("/retention").text
        assert f'<tr class="tombstone" data-clip="{expired}">' in tombs and sha in tombs
        assert "<td>leo</td>" in tombs and 'data-count="0"' in tombs
        clip_page = cora.get(f"/clips/{expired}").text
        assert 'id="purged"' in clip_page and "批准人 leo" in clip_page
        assert "默认保存期 180 天" in clip_page and 'id="held"' in cora.get(f"/clips/{held}").text
        back = cora.post(f"/retention/undo/{expired}",
                         data={"csrf": csrf_of(cora, "/retention"), "why": "误删恢复"})  # fmt: skip
        assert back.status_code == 303
    assert people.store.path_of(sha).exists() and count(served, Tombstone) == 0
    kinds = journal_types(served)
    assert kinds.count("clip.purged") == 1 and kinds.count("clip.purge_undone") == 1
