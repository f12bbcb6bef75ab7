"""The registry's consumer stores each row once, waits for gaps, and refuses hostile input."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from firmware_bridge import reporting
from registry.ingest import Ingestor, Outcome
from registry.models import Alert, BayStatus, Dock, Row
from tests.registry.dockjournal import PREFIX, DockJournal


def _count(ingestor: Ingestor, model: type) -> int:
    with ingestor.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _dock(ingestor: Ingestor, dock_id: str = "dock-1") -> Dock:
    with ingestor.sessions() as session:
        dock = session.get(Dock, dock_id)
        assert dock is not None
        return dock


def test_each_row_is_stored_once_and_a_duplicate_is_dropped(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    dock_journal.append(5)
    messages = dock_journal.messages()
    assert [ingestor.consume(t, p) for t, p in messages] == [Outcome.STORED] * 5
    assert [ingestor.consume(t, p) for t, p in messages] == [Outcome.DUPLICATE] * 5
    assert _count(ingestor, Row) == 5
    dock = _dock(ingestor)
    assert (dock.verified_head_id, dock.verified_head_hash) == (5, dock_journal.entries()[-1].hash)
    assert _count(ingestor, Alert) == 0


def test_rows_out_of_order_are_verified_once_the_gap_fills(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    dock_journal.append(6)
    messages = dock_journal.messages()
    for topic, payload in [messages[0], messages[3], messages[5], messages[4]]:
        assert ingestor.consume(topic, payload) == Outcome.STORED
    assert _dock(ingestor).verified_head_id == 1
    for topic, payload in [messages[2], messages[1]]:
        ingestor.consume(topic, payload)
    assert _dock(ingestor).verified_head_id == 6
    with ingestor.sessions() as session:
        assert session.scalars(select(Row.chain_ok)).all() == [True] * 6
    assert _count(ingestor, Alert) == 0


def _mismatch_alerts(ingestor: Ingestor) -> list[str]:
    with ingestor.sessions() as session:
        return list(
            session.scalars(select(Alert.subject).where(Alert.kind == "chain_mismatch")).all()
        )


def test_a_recomputed_chain_raises_chain_mismatch_and_the_held_rows_stay(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    dock_journal.append(5)
    held = dock_journal.entries()
    for topic, payload in dock_journal.messages():
        ingestor.consume(topic, payload)
    dock_journal.rewrite(3, {"bay": 1, "from_state": "empty", "to_state": "ready"})
    outcomes = [ingestor.consume(t, p) for t, p in dock_journal.messages()]
    assert outcomes == [Outcome.DUPLICATE] * 2 + [Outcome.CONFLICT] * 3
    assert "row 3" in _mismatch_alerts(ingestor)
    with ingestor.sessions() as session:
        kept = session.scalars(
            select(Row.hash).where(Row.conflict_no == 0).order_by(Row.row_id)
        ).all()
        assert list(kept) == [entry.hash for entry in held]
        assert session.scalar(select(func.count()).where(Row.conflict_no > 0)) == 3


def test_a_truncated_then_regrown_journal_raises_chain_mismatch(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    dock_journal.append(6)
    for topic, payload in dock_journal.messages():
        ingestor.consume(topic, payload)
    dock_journal.truncate(keep=3)
    dock_journal.append(3, bay=2)  # rows 4..6 again, other contents
    outcomes = [ingestor.consume(t, p) for t, p in dock_journal.messages(after=3)]
    assert outcomes == [Outcome.CONFLICT] * 3
    assert _mismatch_alerts(ingestor) == ["row 4", "row 5", "row 6"]
    assert _dock(ingestor).verified_head_id == 6


def test_new_rows_that_do_not_extend_the_verified_head_raise_chain_mismatch(
    ingestor: Ingestor, dock_journal: DockJournal, tmp_path
) -> None:
    dock_journal.append(3)
    for topic, payload in dock_journal.messages():
        ingestor.consume(topic, payload)
    other = DockJournal(tmp_path / "other")  # a journal rebuilt from scratch, same dock id
    other.append(4, bay=3)
    topic, payload = other.messages()[3]
    other.close()
    assert ingestor.consume(topic, payload) == Outcome.STORED
    assert _mismatch_alerts(ingestor) == ["row 4"]
    assert _dock(ingestor).verified_head_id == 3


def test_a_row_whose_hash_does_not_match_its_contents_is_kept_and_alerted(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    dock_journal.append(2)
    (t1, p1), (t2, p2) = dock_journal.messages()
    doc = json.loads(p2)
    doc["row"]["data"]["to_state"] = "ready"  # edited in transit or at the dock, hash kept
    ingestor.consume(t1, p1)
    assert ingestor.consume(t2, reporting.encode(doc)) == Outcome.STORED
    assert _mismatch_alerts(ingestor) == ["row 2"]
    assert _dock(ingestor).verified_head_id == 1


def test_hostile_payloads_are_refused_and_nothing_is_stored(
    ingestor: Ingestor, dock_journal: DockJournal, caplog
) -> None:
    dock_journal.append(1)
    topic, payload = dock_journal.messages()[0]
    doc = json.loads(payload)
    wrong_schema = dict(doc, schema=2)
    other_dock = dict(doc, dock="dock-2")
    huge = dict(doc, row=dict(doc["row"], data={"x": "a" * 70_000}))
    no_zone = dict(doc, row=dict(doc["row"], at_utc="2026-03-01T08:30:00"))
    hostile = [
        (topic, b"{not json"),
        (topic, b"\xff\xfe"),
        (topic, reporting.encode(wrong_schema)),
        (topic, reporting.encode(other_dock)),
        (topic, reporting.encode(huge)),
        (topic, reporting.encode(no_zone)),
        (topic, b"[]"),
        (f"{PREFIX}/dock-1/availability", b"maybe"),
        (f"{PREFIX}/dock-1/elsewhere", payload),
    ]
    caplog.set_level("WARNING", logger="registry.ingest")
    assert [ingestor.consume(t, p) for t, p in hostile] == [Outcome.REFUSED] * len(hostile)
    refusals = [r for r in caplog.records if r.name == "registry.ingest"]
    assert len(refusals) == len(hostile)
    assert all("\n" not in r.getMessage() for r in refusals)
    assert _count(ingestor, Row) == 0
    assert _count(ingestor, Dock) == 0


def test_retained_states_are_upserts_ordered_by_their_time(ingestor: Ingestor) -> None:
    def bay_state(at: str, state: str) -> bytes:
        return reporting.encode(
            {
                "schema": 1, "kind": "bay_state", "dock": "dock-1", "bay": 2, "at": at,
                "state": state, "device": None, "reason": "", "light": "off",
            }
        )  # fmt: skip

    topic = reporting.bay_state_topic(PREFIX, "dock-1", 2)
    assert ingestor.consume(topic, bay_state("2026-03-01T08:31:00+00:00", "ready")) == (
        Outcome.UPDATED
    )
    assert ingestor.consume(topic, bay_state("2026-03-01T08:30:00+00:00", "empty")) == (
        Outcome.STALE
    )
    availability = reporting.availability_topic(PREFIX, "dock-1")
    assert ingestor.consume(availability, b"online") == Outcome.UPDATED
    with ingestor.sessions() as session:
        assert session.scalars(select(BayStatus.state)).one()["state"] == "ready"
        assert session.get(Dock, "dock-1").availability == "online"  # type: ignore[union-attr]


def test_a_batch_stores_each_row_once_in_one_transaction_and_a_bad_message_costs_no_row(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    dock_journal.append(6)
    messages = dock_journal.messages()
    hostile = (messages[0][0], b"{not json")
    batch = [messages[0], messages[1], hostile, messages[1], *messages[2:]]
    outcomes = ingestor.consume_batch(batch)
    assert outcomes[2] is Outcome.REFUSED
    assert outcomes.count(Outcome.STORED) == 6
    assert outcomes[3] is Outcome.DUPLICATE  # the same row twice in one batch
    assert _count(ingestor, Row) == 6
    assert _dock(ingestor).verified_head_id == 6
    assert ingestor.consume_batch(messages) == [Outcome.DUPLICATE] * 6


def test_a_batch_that_fails_midway_falls_back_to_one_message_at_a_time(
    ingestor: Ingestor, dock_journal: DockJournal
) -> None:
    """A row whose time has no zone fails inside the transaction: the others still land."""
    dock_journal.append(3)
    messages = dock_journal.messages()
    topic, payload = messages[1]
    doc = json.loads(payload)
    doc["row"]["at_utc"] = doc["row"]["at_utc"].replace("+00:00", "").replace("Z", "")
    outcomes = ingestor.consume_batch([messages[0], (topic, json.dumps(doc).encode()), messages[2]])
    assert outcomes[0] is Outcome.STORED and outcomes[2] is Outcome.STORED
    assert outcomes[1] is Outcome.REFUSED
    assert _count(ingestor, Row) == 2
