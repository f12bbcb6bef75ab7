"""Viewing from the pages: request, review and approval each by its own person in their own
session, then the clip streamed by HTTP ranges straight from the store and registered;
without an approval, 403 and not one byte of the clip."""

from __future__ import annotations

import re

from sqlalchemy import select

from dock.people.models import Viewing
from tests.integration.web_setup import Served, csrf_of, served  # noqa: F401

CONTENT = bytes(range(256)) * 4096  # 1 MiB, every offset's byte known


def _request_view(pages: Served, clip_id: int) -> int:
    with pages.signed_in("olga") as olga:
        token = csrf_of(olga, f"/clips/{clip_id}")
        made = olga.post(
            "/requests",
            data={"csrf": token, "clip_id": clip_id, "kind": "view", "reason": "复核投诉"},
        )
        assert made.status_code == 303
        found = re.search(r"requested=(\d+)", made.headers["location"])
        assert found
        return int(found.group(1))


def _step(pages: Served, username: str, action: str, request_id: int) -> None:
    with pages.signed_in(username) as person:
        token = csrf_of(person, "/queue")
        assert f'data-request="{request_id}"' in person.get("/queue").text
        done = person.post(
            f"/requests/{request_id}/{action}", data={"csrf": token, "decision": "pass"}
        )
        assert done.status_code == 303, done.text


def test_an_approved_view_streams_ranges_from_the_store_and_is_registered(served: Served):  # noqa: F811
    clip_id = served.people.add_clip(CONTENT)
    request_id = _request_view(served, clip_id)
    _step(served, "dora", "review", request_id)  # the office director reviews views
    _step(served, "leo", "approve", request_id)  # the leader approves
    with served.signed_in("olga") as olga:
        page = olga.get(f"/view/{clip_id}")
        assert page.status_code == 200
        assert f'src="/stream/{clip_id}"' in page.text
        part = olga.get(f"/stream/{clip_id}", headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(CONTENT)}"
        assert part.headers["cache-control"] == "no-store"
        assert part.content == CONTENT[1000:2000]
        tail = olga.get(f"/stream/{clip_id}", headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == CONTENT[-10:]
        whole = olga.get(f"/stream/{clip_id}")
        assert whole.status_code == 200 and whole.content == CONTENT
        outside = olga.get(f"/stream/{clip_id}", headers={"Range": f"bytes={len(CONTENT)}-"})
        assert outside.status_code == 416
    with served.people.db.transaction() as session:
        register = list(session.scalars(select(Viewing)))
    assert [(v.clip_id, v.username, v.reason, v.request_id) for v in register] == [
        (clip_id, "olga", "复核投诉", request_id)
    ]  # one viewing, however many ranges the player asked for


def test_a_view_without_approval_is_refused_and_nothing_is_streamed(served: Served):  # noqa: F811
    clip_id = served.people.add_clip(CONTENT)
    request_id = _request_view(served, clip_id)
    _step(served, "dora", "review", request_id)  # reviewed, but nobody approved it
    with served.signed_in("olga") as olga:
        page = olga.get(f"/view/{clip_id}")
        assert page.status_code == 403
        assert "没有" in page.text  # the command layer's refusal, in Chinese
        for headers in ({}, {"Range": "bytes=0-99"}):
            refused = olga.get(f"/stream/{clip_id}", headers=headers)
            assert refused.status_code == 403
            assert CONTENT[:64] not in refused.content
    with served.signed_in("cora") as cora:  # someone else, who asked for nothing
        assert cora.get(f"/view/{clip_id}").status_code == 403
        assert cora.get(f"/stream/{clip_id}").status_code == 403
    with served.people.db.transaction() as session:
        assert list(session.scalars(select(Viewing))) == []
