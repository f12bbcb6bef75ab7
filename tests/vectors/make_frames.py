"""Writes tests/vectors/frames.json: golden frames for both ends of the recorder link.

Run `python -m tests.vectors.make_frames` only when PROTOCOL.md changes, and review the diff.
Every expected reply below is written out by hand from PROTOCOL.md and the board's config,
never produced by running the firmware: the vectors are the spec the firmware is held to.
The HMAC proofs are checked against CPython's own `hmac` here, not only our `auth` module.
"""

import hashlib
import hmac
import json
from pathlib import Path

from firmware_bridge import messages
from firmware_bridge.framing import FrameError, decode_frame, encode_frame
from tests.vectors.make_firmware_frames import firmware_conversation

OUT = Path(__file__).with_name("frames.json")

KEY = bytes(range(0x40, 0x60))
OTHER_KEY = bytes(32)
DOCK_NONCE = bytes(range(16))
DOCK_NONCE_2 = bytes(range(16, 32))
CLIP_B_CONTENT = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(40))
CLIP_A_SHA = hashlib.sha256(b"clip A").digest()

BOARD = {
    "serial": "ZFY00001",
    "model": "ZFY-REF",
    "firmware_version": "1.0.0",
    "battery_pct": 87,
    "is_charging": True,
    "clock_utc_ms": 1795000000000,
    "total_bytes": 64000000000,
    "free_bytes": 50000000000,
    "random_seed": "golden",
    "is_recording": False,
    "key": KEY.hex(),
    "identity": {
        "officer_number": "0451",
        "officer_name": "张伟",
        "unit_number": "330100",
        "unit_name": "杭州市城管局",
    },
    # Listed out of order on purpose: the recorder sorts by path.
    "clips": [
        {
            "path": "DCIM/20261123/20261123_093000_0003.MP4",
            "start_utc_s": 1795944600,
            "end_utc_s": 1795945200,
            "size_bytes": 2048,
            "sha256": "",
            "is_important": True,
            "place": "30.2741,120.1551",
        },
        {
            "path": "DCIM/20261123/20261123_081502_0001.MP4",
            "start_utc_s": 1795940102,
            "end_utc_s": 1795940702,
            "size_bytes": 1024,
            "sha256": CLIP_A_SHA.hex(),
            "is_important": False,
            "place": "",
        },
        {
            "path": "DCIM/20261123/20261123_084000_0002.MP4",
            "start_utc_s": 1795941600,
            "end_utc_s": 1795941660,
            "size_bytes": len(CLIP_B_CONTENT),
            "sha256": "",
            "is_important": False,
            "place": "",
            "content_hex": CLIP_B_CONTENT.hex(),
        },
    ],
    "events": [
        {
            "index": 0,
            "utc_s": 1795940102,
            "kind": 1,
            "reason": 0,
            "clip_path": "DCIM/20261123/20261123_081502_0001.MP4",
        },
        {"index": 1, "utc_s": 1795940702, "kind": 3, "reason": 2, "clip_path": ""},
        {"index": 2, "utc_s": 1795941600, "kind": 4, "reason": 0, "clip_path": ""},
        {
            "index": 3,
            "utc_s": 1795941600,
            "kind": 5,
            "reason": 0,
            "clip_path": "DCIM/20261123/20261123_084000_0002.MP4",
        },
        {"index": 4, "utc_s": 1795941660, "kind": 2, "reason": 0, "clip_path": ""},
    ],
}


def _random(seed, counter, size):
    """The MemoryBoard random stream, restated: sha256(seed + str(counter))."""
    return hashlib.sha256(seed.encode() + str(counter).encode()).digest()[:size]


def _hmac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def _clip(raw):
    return {
        "path": raw["path"],
        "start_utc_s": raw["start_utc_s"],
        "end_utc_s": raw["end_utc_s"],
        "size_bytes": raw["size_bytes"],
        "sha256": bytes.fromhex(raw["sha256"]),
        "is_important": raw["is_important"],
        "place": raw["place"],
    }


def _identity_reply(board, identity, is_paired=True):
    return (
        "Identity",
        {
            "device_serial": board["serial"],
            "model": board["model"],
            "firmware_version": board["firmware_version"],
            "protocol_version": messages.PROTOCOL_VERSION,
            "is_paired": is_paired,
            **identity,
        },
    )


def _status(board, clock_utc_ms, is_mass_storage_on=False):
    return (
        "Status",
        {
            "battery_pct": board["battery_pct"],
            "is_charging": board["is_charging"],
            "storage_total_bytes": board["total_bytes"],
            "storage_free_bytes": board["free_bytes"],
            "clock_utc_ms": clock_utc_ms,
            "is_recording": board["is_recording"],
            "is_mass_storage_on": is_mass_storage_on,
        },
    )


def _error(code, detail):
    return ("Error", {"code": code, "detail": detail})


OK = ("Ok", {})
HELLO = (
    "Hello",
    {"protocol_version": messages.PROTOCOL_VERSION, "table_hash": messages.TABLE_HASH},
)
HELLO_REPLY = (
    "HelloReply",
    {
        "protocol_version": messages.PROTOCOL_VERSION,
        "table_hash": messages.TABLE_HASH,
        "device_serial": "ZFY00001",
    },
)


def _main_conversation():
    b = BOARD
    serial = b["serial"].encode()
    clips = sorted((_clip(c) for c in b["clips"]), key=lambda c: c["path"])
    nonce_1 = _random(b["random_seed"], 0, 16)
    nonce_2 = _random(b["random_seed"], 1, 16)
    good_proof = _hmac(KEY, b"dock" + nonce_2 + DOCK_NONCE_2 + serial)
    recorder_proof = _hmac(KEY, b"recorder" + DOCK_NONCE_2 + nonce_2 + serial)
    new_identity = {
        "officer_number": "0452",
        "officer_name": "李娜",
        "unit_number": "330101",
        "unit_name": "西湖区城管中队",
    }
    delete_b = {"path": clips[1]["path"], "sha256": hashlib.sha256(CLIP_B_CONTENT).digest()}
    new_clock = 1795000123456
    return [
        ("request before Hello", ("GetStatus", {}), _error(9, "send Hello first")),
        ("Hello", HELLO, HELLO_REPLY),
        ("Identify", ("Identify", {}), _identity_reply(b, b["identity"])),
        ("GetStatus", ("GetStatus", {}), _status(b, b["clock_utc_ms"])),
        (
            "privileged before authentication",
            ("SetClock", {"clock_utc_ms": new_clock}),
            _error(3, "SetClock needs AuthProve first"),
        ),
        (
            "re-key without authentication",
            ("Pair", {"new_key": OTHER_KEY}),
            _error(8, "authenticate with the current key to re-key"),
        ),
        (
            "AuthBegin",
            ("AuthBegin", {"dock_nonce": DOCK_NONCE}),
            ("AuthChallenge", {"recorder_nonce": nonce_1}),
        ),
        (
            "wrong proof",
            ("AuthProve", {"dock_proof": bytes(32)}),
            _error(4, "wrong proof (1 of 5)"),
        ),
        (
            "AuthProve without a fresh AuthBegin",
            ("AuthProve", {"dock_proof": bytes(32)}),
            _error(3, "send AuthBegin first"),
        ),
        (
            "AuthBegin again",
            ("AuthBegin", {"dock_nonce": DOCK_NONCE_2}),
            ("AuthChallenge", {"recorder_nonce": nonce_2}),
        ),
        (
            "right proof",
            ("AuthProve", {"dock_proof": good_proof}),
            ("AuthAccepted", {"recorder_proof": recorder_proof}),
        ),
        ("SetClock", ("SetClock", {"clock_utc_ms": new_clock}), OK),
        (
            "SetClock before 2020",
            ("SetClock", {"clock_utc_ms": 1000}),
            _error(10, "clock before 2020 refused"),
        ),
        ("clock read back", ("GetStatus", {}), _status(b, new_clock)),
        (
            "ListClips first page",
            ("ListClips", {"start_index": 0, "max_count": 2}),
            ("ClipPage", {"total": 3, "clips": clips[:2]}),
        ),
        (
            "ListClips last page",
            ("ListClips", {"start_index": 2, "max_count": 10}),
            ("ClipPage", {"total": 3, "clips": clips[2:]}),
        ),
        (
            "ListClips past the end",
            ("ListClips", {"start_index": 7, "max_count": 10}),
            ("ClipPage", {"total": 3, "clips": []}),
        ),
        (
            "ReadEvents all",
            ("ReadEvents", {"cursor": 0, "max_count": 100}),
            ("EventPage", {"next_cursor": 5, "total": 5, "events": b["events"]}),
        ),
        (
            "ReadEvents from a cursor",
            ("ReadEvents", {"cursor": 3, "max_count": 1}),
            ("EventPage", {"next_cursor": 4, "total": 5, "events": b["events"][3:4]}),
        ),
        (
            "DeleteClip with another hash",
            ("DeleteClip", {"path": clips[0]["path"], "sha256": bytes(32)}),
            _error(6, f"{clips[0]['path']} has another hash; not deleted"),
        ),
        (
            "DeleteClip with a short hash",
            ("DeleteClip", {"path": clips[0]["path"], "sha256": b"\x01"}),
            _error(10, "sha256 must be 32 bytes"),
        ),
        ("DeleteClip, hash computed on the recorder", ("DeleteClip", delete_b), OK),
        ("DeleteClip retried with the same seq", ("DeleteClip", delete_b, "same_seq"), OK),
        (
            "DeleteClip of a clip that is gone",
            ("DeleteClip", delete_b),
            _error(5, f"no clip {delete_b['path']}"),
        ),
        (
            "listing after the delete",
            ("ListClips", {"start_index": 0, "max_count": 10}),
            ("ClipPage", {"total": 2, "clips": [clips[0], clips[2]]}),
        ),
        ("SetMassStorage on", ("SetMassStorage", {"is_on": True}), OK),
        (
            "status shows mass storage",
            ("GetStatus", {}),
            _status(b, new_clock, is_mass_storage_on=True),
        ),
        ("WriteIdentity", ("WriteIdentity", new_identity), OK),
        ("Identify shows the new identity", ("Identify", {}), _identity_reply(b, new_identity)),
        (
            "Pair with a short key",
            ("Pair", {"new_key": b"12345"}),
            _error(10, "new_key must be 32 bytes"),
        ),
        (
            "malformed payload",
            ("raw", 0x13, b"\x01"),
            _error(1, "ListClips: payload ends 3 bytes early"),
        ),
        (
            "bool that is not 0 or 1",
            ("raw", 0x15, b"\x02"),
            _error(1, "SetMassStorage: field is_on is not a boolean"),
        ),
        ("unused firmware-update id", ("raw", 0x3F, b""), _error(2, "no request 0x3f")),
        ("a reply id sent as a request", ("raw", 0x80, b""), _error(2, "no request 0x80")),
        ("a corrupted frame gets no reply", ("corrupt", ("GetStatus", {})), None),
        ("re-key after authentication", ("Pair", {"new_key": OTHER_KEY}), OK),
        (
            "Hello from another version is answered with ours",
            ("Hello", {"protocol_version": 99, "table_hash": b"\xff" * 8}),
            HELLO_REPLY,
        ),
        (
            "a new Hello ends authentication",
            ("SetClock", {"clock_utc_ms": new_clock}),
            _error(3, "SetClock needs AuthProve first"),
        ),
        ("USB detached", "usb_detached", None),
        ("Hello is forgotten on detach", ("Identify", {}), _error(9, "send Hello first")),
    ], {
        "deleted": [delete_b["path"]],
        "clock_utc_ms": new_clock,
        "identity": new_identity,
        "key": OTHER_KEY.hex(),
        "is_mass_storage_on": False,
    }


def _lockout_conversation():
    b = BOARD
    steps = [("Hello", HELLO, HELLO_REPLY)]
    for attempt in range(1, 6):
        steps.append(
            (
                f"AuthBegin {attempt}",
                ("AuthBegin", {"dock_nonce": DOCK_NONCE}),
                ("AuthChallenge", {"recorder_nonce": _random(b["random_seed"], attempt - 1, 16)}),
            )
        )
        steps.append(
            (
                f"wrong proof {attempt}",
                ("AuthProve", {"dock_proof": bytes(32)}),
                _error(4, f"wrong proof ({attempt} of 5)"),
            )
        )
    steps += [
        (
            "locked out",
            ("AuthBegin", {"dock_nonce": DOCK_NONCE}),
            _error(11, "unplug the recorder to try again"),
        ),
        ("a new Hello does not lift the lockout", HELLO, HELLO_REPLY),
        (
            "still locked out",
            ("AuthBegin", {"dock_nonce": DOCK_NONCE}),
            _error(11, "unplug the recorder to try again"),
        ),
        ("USB detached", "usb_detached", None),
        ("Hello", HELLO, HELLO_REPLY),
        (
            "unplugging lifts the lockout",
            ("AuthBegin", {"dock_nonce": DOCK_NONCE}),
            ("AuthChallenge", {"recorder_nonce": _random(b["random_seed"], 5, 16)}),
        ),
    ]
    return steps, {
        "deleted": [],
        "clock_utc_ms": b["clock_utc_ms"],
        "identity": b["identity"],
        "key": KEY.hex(),
        "is_mass_storage_on": False,
    }


def _fresh_conversation():
    b = dict(BOARD, key=None, identity=None)
    empty = {"officer_number": "", "officer_name": "", "unit_number": "", "unit_name": ""}
    steps = [
        ("Hello", HELLO, HELLO_REPLY),
        ("Identify, factory fresh", ("Identify", {}), _identity_reply(b, empty, is_paired=False)),
        (
            "AuthBegin on an unpaired recorder",
            ("AuthBegin", {"dock_nonce": DOCK_NONCE}),
            _error(3, "recorder is not paired; Pair it first"),
        ),
        ("Pair a fresh recorder", ("Pair", {"new_key": KEY}), OK),
        ("Identify, paired", ("Identify", {}), _identity_reply(b, empty, is_paired=True)),
        (
            "Pair again without authentication",
            ("Pair", {"new_key": OTHER_KEY}),
            _error(8, "authenticate with the current key to re-key"),
        ),
    ]
    return (
        b,
        steps,
        {
            "deleted": [],
            "clock_utc_ms": b["clock_utc_ms"],
            "identity": None,
            "key": KEY.hex(),
            "is_mass_storage_on": False,
        },
    )


def _json_fields(name, values):
    """Field values as JSON: bytes fields ("y") as lowercase hex, the rest as they are."""
    entry = messages.BY_NAME[name]
    return _json_values(entry[2], values)


def _json_values(fields, values):
    out = {}
    for field, kind in fields:
        value = values[field]
        if isinstance(kind, tuple):
            out[field] = [_json_values(kind[1], item) for item in value]
        elif kind == messages.BYTES:
            out[field] = bytes(value).hex()
        else:
            out[field] = value
    return out


def _frame_record(seq, name, values):
    msg_id, payload = messages.encode(name, values)
    return {
        "hex": encode_frame(seq, msg_id, payload).hex(),
        "seq": seq,
        "msg_id": msg_id,
        "message": name,
        "fields": _json_fields(name, values),
    }


def _conversation(name, board, steps, expect_board, catalogue):
    out_steps = []
    seq = 0
    for note, request, reply in steps:
        if request == "usb_detached":
            out_steps.append({"note": note, "action": "usb_detached"})
            continue
        if isinstance(request, tuple) and len(request) == 3 and request[2] == "same_seq":
            request = request[:2]
        else:
            seq = (seq + 1) % 256
        step = {"note": note, "seq": seq}
        if request[0] == "raw":
            _, msg_id, payload = request
            step["request_hex"] = encode_frame(seq, msg_id, payload).hex()
        elif request[0] == "corrupt":
            good = bytearray(encode_frame(seq, *messages.encode(*request[1])))
            good[-1] ^= 0xFF
            step["request_hex"] = bytes(good).hex()
        else:
            record = _frame_record(seq, *request)
            catalogue.append(record)
            step["request_hex"] = record["hex"]
            step["request"] = {"message": record["message"], "fields": record["fields"]}
        if reply is None:
            step["reply_hex"] = ""
        else:
            record = _frame_record(seq, *reply)
            catalogue.append(record)
            step["reply_hex"] = record["hex"]
            step["reply"] = {"message": record["message"], "fields": record["fields"]}
        out_steps.append(step)
    return {"name": name, "board": board, "steps": out_steps, "expect_board": expect_board}


def _bad_frames():
    good = encode_frame(7, 0x11, b"")
    oversized = b"\xa5\x5a" + (4097).to_bytes(2, "little") + b"\x01\x11"
    cases = [
        ("noise before a frame", b"\x00\x01" + good),
        ("noise and no frame start", b"\x00\x01\x02"),
        ("bad CRC", good[:-1] + bytes([good[-1] ^ 1])),
        ("corrupted header byte (seq)", good[:4] + b"\x08" + good[5:]),
        ("length above MAX_PAYLOAD", oversized),
    ]
    out = []
    for note, data in cases:
        try:
            decode_frame(data)
        except FrameError as err:
            out.append(
                {
                    "note": note,
                    "hex": data.hex(),
                    "error": "FrameError",
                    "reason": err.reason,
                    "rest_hex": bytes(err.rest).hex(),
                }
            )
        else:
            raise AssertionError("not a frame error: " + note)
    partial = good[:5]
    out.append(
        {
            "note": "a partial frame is not an error yet",
            "hex": partial.hex(),
            "error": None,
            "rest_hex": partial.hex(),
        }
    )
    return out


def _path_payload(path):
    """A DeleteClip payload whose path field holds raw bytes, and an empty hash."""
    return len(path).to_bytes(2, "little") + path + b"\x00\x00"


def _rtc_conversation():
    """A recorder whose RTC no longer takes the time (its clock battery failed)."""
    b = dict(BOARD, is_rtc_failing=True)
    serial = b["serial"].encode()
    nonce = _random(b["random_seed"], 0, 16)
    path = b"DCIM\xc0\xaf"
    overlong = len(path).to_bytes(2, "little") + path + b"\x20\x00" + bytes(32)
    steps = [
        ("Hello", HELLO, HELLO_REPLY),
        (
            "AuthBegin",
            ("AuthBegin", {"dock_nonce": DOCK_NONCE}),
            ("AuthChallenge", {"recorder_nonce": nonce}),
        ),
        (
            "right proof",
            ("AuthProve", {"dock_proof": _hmac(KEY, b"dock" + nonce + DOCK_NONCE + serial)}),
            (
                "AuthAccepted",
                {"recorder_proof": _hmac(KEY, b"recorder" + DOCK_NONCE + nonce + serial)},
            ),
        ),
        (
            "SetClock on a failing RTC",
            ("SetClock", {"clock_utc_ms": 1795000123456}),
            _error(12, "OSError: RTC did not take the time"),
        ),
        ("the clock did not move", ("GetStatus", {}), _status(b, b["clock_utc_ms"])),
        (
            "DeleteClip with an overlong '/' in its path",
            ("raw", 0x16, overlong),
            _error(
                1, "DeleteClip: field path is not UTF-8: byte 0xc0 at 4 cannot start a character"
            ),
        ),
    ]
    return (
        b,
        steps,
        {
            "deleted": [],
            "clock_utc_ms": b["clock_utc_ms"],
            "identity": b["identity"],
            "key": KEY.hex(),
            "is_mass_storage_on": False,
        },
    )


def _authenticate(counter):
    """The AuthBegin/AuthProve steps with the board's nonce number `counter`."""
    serial = BOARD["serial"].encode()
    nonce = _random(BOARD["random_seed"], counter, 16)
    return [
        (
            "AuthBegin",
            ("AuthBegin", {"dock_nonce": DOCK_NONCE}),
            ("AuthChallenge", {"recorder_nonce": nonce}),
        ),
        (
            "right proof",
            ("AuthProve", {"dock_proof": _hmac(KEY, b"dock" + nonce + DOCK_NONCE + serial)}),
            (
                "AuthAccepted",
                {"recorder_proof": _hmac(KEY, b"recorder" + DOCK_NONCE + nonce + serial)},
            ),
        ),
    ]


def _bad_messages():
    cases = [
        ("payload too short", 0x13, b"\x01"),
        ("bytes left over", 0x11, b"\x00"),
        ("string that is not UTF-8", 0x16, b"\x02\x00\xff\xfe\x00\x00"),
        # MicroPython's own decoder takes these; the shared validator refuses them on both.
        ("overlong '/' (C0 AF)", 0x16, _path_payload(b"DCIM\xc0\xaf")),
        ("overlong '/' in three bytes (E0 80 AF)", 0x16, _path_payload(b"\xe0\x80\xaf")),
        ("surrogate U+D800 (ED A0 80)", 0x16, _path_payload(b"\xed\xa0\x80")),
        ("code point above U+10FFFF (F4 90 80 80)", 0x16, _path_payload(b"\xf4\x90\x80\x80")),
        ("character cut short (E4 BD)", 0x16, _path_payload(b"\xe4\xbd")),
        ("lone continuation byte (80)", 0x16, _path_payload(b"a\x80")),
        ("bool that is not 0 or 1", 0x15, b"\x02"),
        ("unknown message id", 0x42, b""),
    ]
    out = []
    for note, msg_id, payload in cases:
        try:
            messages.decode(msg_id, payload)
        except messages.MessageError as err:
            out.append(
                {
                    "note": note,
                    "msg_id": msg_id,
                    "payload_hex": payload.hex(),
                    "error": "MessageError",
                    "reason": str(err),
                }
            )
        else:
            raise AssertionError("not a message error: " + note)
    return out


def build():
    catalogue = []
    main_steps, main_expect = _main_conversation()
    lock_steps, lock_expect = _lockout_conversation()
    fresh_board, fresh_steps, fresh_expect = _fresh_conversation()
    conversations = [
        _conversation("docking", BOARD, main_steps, main_expect, catalogue),
        _conversation("lockout", BOARD, lock_steps, lock_expect, catalogue),
        _conversation("fresh recorder", fresh_board, fresh_steps, fresh_expect, catalogue),
        _conversation("failing clock", *_rtc_conversation(), catalogue),
        _conversation(
            "firmware update",
            *firmware_conversation(BOARD, HELLO, HELLO_REPLY, _authenticate, _error),
            catalogue,
        ),
    ]
    unique = {}
    for record in catalogue:
        unique.setdefault(record["hex"], record)
    return {
        "about": (
            "Golden vectors of the recorder link (firmware_bridge/PROTOCOL.md). 'frames': "
            "well-formed frames with their decoded message; bytes fields ('y' in the table) are "
            "lowercase hex strings, other fields plain JSON. 'bad_frames': decode_frame on 'hex' "
            "raises FrameError with 'reason' and continues from 'rest_hex' (error null: not yet "
            "a frame). 'bad_messages': messages.decode(msg_id, payload) raises MessageError. "
            "'conversations': a recorder built from 'board' (firmware MemoryBoard.from_config; "
            "its random stream is sha256(random_seed + decimal counter), 16 bytes per nonce) "
            "answers each step's request_hex with exactly reply_hex ('' = no reply); action "
            "'usb_detached' calls on_usb_detached(); 'expect_board' is the board state after."
        ),
        "protocol_version": messages.PROTOCOL_VERSION,
        "table_hash": messages.TABLE_HASH.hex(),
        "frames": list(unique.values()),
        "bad_frames": _bad_frames(),
        "bad_messages": _bad_messages(),
        "conversations": conversations,
    }


def main():
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(OUT)


if __name__ == "__main__":
    main()
