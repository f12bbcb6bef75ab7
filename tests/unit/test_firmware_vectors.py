"""The firmware and the shared codec under CPython, held to tests/vectors/frames.json."""

import json
from pathlib import Path

from tests.vectors import replay

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "frames.json").read_text(encoding="utf-8")
)


def test_framing_and_messages_match_golden_vectors():
    assert replay.check_codec(VECTORS) == []


def test_firmware_replies_are_exactly_the_golden_bytes():
    got_replies, got_states = replay.replay_conversations(VECTORS)
    want_replies, want_states = replay.expected_conversations(VECTORS)
    assert got_replies == want_replies
    assert got_states == want_states


def test_vectors_cover_every_message_and_error_code():
    from firmware_bridge import messages

    seen = {record["message"] for record in VECTORS["frames"]}
    assert seen == {entry[1] for entry in messages.TABLE}
    codes = {r["fields"]["code"] for r in VECTORS["frames"] if r["message"] == "Error"}
    assert codes == set(messages.ERROR_NAMES) - {messages.ERR_STORAGE_FAULT}
