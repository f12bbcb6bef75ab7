"""The one message table of the recorder link, and its encoder and decoder.

Both the recorder firmware (MicroPython) and the dock (CPython) import this module, so it
keeps to struct, hashlib and plain tuples. A change here changes PROTOCOL_VERSION and
PROTOCOL.md in the same commit; TABLE_HASH changes by itself, so a forgotten bump still
fails the handshake loudly instead of misreading fields. The hash covers the error codes,
event kinds and interruption reasons too: a renumbered code is misread as surely as a
moved field.
"""

import hashlib
import struct

PROTOCOL_VERSION = 3

# Field types. Integers use struct codes, little-endian.
U8 = "B"
U16 = "H"
U32 = "I"
U64 = "Q"
I64 = "q"
BOOL = "?"  # one byte, 0 or 1 (packed by hand: MicroPython's struct has no "?")
STR = "s"  # u16 byte length + UTF-8
BYTES = "y"  # u16 byte length + raw bytes
# A list is the tuple (LIST, item_fields): u16 count, then each item's fields in order.
LIST = "*"

CLIP_FIELDS = (
    ("path", STR),
    ("start_utc_s", I64),
    ("end_utc_s", I64),
    ("size_bytes", U64),
    ("sha256", BYTES),  # 32 bytes, or empty where the firmware keeps no hash
    ("is_important", BOOL),
    ("place", STR),  # "lat,lon" or a place name; empty when unknown
)

EVENT_FIELDS = (
    ("index", U32),
    ("utc_s", I64),
    ("kind", U8),  # EVENT_* below
    ("reason", U8),  # REASON_* below; REASON_NONE unless kind is EVENT_INTERRUPTED
    ("clip_path", STR),  # the clip the event belongs to, or the voice-note clip
)

# A firmware image's manifest: what FirmwareBegin carries and the signature covers.
MANIFEST_FIELDS = (
    ("model", STR),  # the recorder model the image is built for
    ("version", STR),  # dotted numbers, "1.2.0"
    ("min_version", STR),  # the oldest running version this image may replace
    ("size_bytes", U32),
    ("sha256", BYTES),  # of the payload, 32 bytes
)

FIRMWARE_PROGRESS_FIELDS = (
    ("image_sha256", BYTES),  # the transfer this is about
    ("next_offset", U32),  # where the recorder wants the next chunk
    ("size_bytes", U32),
)

# Request flags.
PUBLIC = 0
PRIVILEGED = 1  # only after AuthProve succeeded on this insertion

# (msg_id, name, fields, reply name or None for replies, flags)
# Hello (0x01) and HelloReply (0x81) are fixed for every protocol version: they are how two
# versions find out that they differ.
TABLE = (
    (0x01, "Hello", (("protocol_version", U16), ("table_hash", BYTES)), "HelloReply", PUBLIC),
    (0x02, "AuthBegin", (("dock_nonce", BYTES),), "AuthChallenge", PUBLIC),
    (0x03, "AuthProve", (("dock_proof", BYTES),), "AuthAccepted", PUBLIC),
    (0x04, "Pair", (("new_key", BYTES),), "Ok", PUBLIC),
    (0x10, "Identify", (), "Identity", PUBLIC),
    (0x11, "GetStatus", (), "Status", PUBLIC),
    (0x12, "SetClock", (("clock_utc_ms", I64),), "Ok", PRIVILEGED),
    (0x13, "ListClips", (("start_index", U32), ("max_count", U16)), "ClipPage", PUBLIC),
    (0x14, "ReadEvents", (("cursor", U32), ("max_count", U16)), "EventPage", PUBLIC),
    (0x15, "SetMassStorage", (("is_on", BOOL),), "Ok", PRIVILEGED),
    (0x16, "DeleteClip", (("path", STR), ("sha256", BYTES)), "Ok", PRIVILEGED),
    (
        0x17,
        "WriteIdentity",
        (
            ("officer_number", STR),
            ("officer_name", STR),
            ("unit_number", STR),
            ("unit_name", STR),
        ),
        "Ok",
        PRIVILEGED,
    ),
    # 0x30-0x3F: firmware update (PROTOCOL.md, "Firmware update").
    (
        0x30,
        "FirmwareBegin",
        (("manifest", BYTES), ("signature", BYTES), ("allow_downgrade", BOOL)),
        "FirmwareProgress",
        PRIVILEGED,
    ),
    (
        0x31,
        "FirmwareChunk",
        (("offset", U32), ("data", BYTES)),
        "FirmwareProgress",
        PRIVILEGED,
    ),
    (0x32, "FirmwareCommit", (("image_sha256", BYTES),), "FirmwareState", PRIVILEGED),
    (0x33, "FirmwareStatus", (), "FirmwareState", PRIVILEGED),
    (0x80, "Ok", (), None, PUBLIC),
    (
        0x81,
        "HelloReply",
        (("protocol_version", U16), ("table_hash", BYTES), ("device_serial", STR)),
        None,
        PUBLIC,
    ),
    (0x82, "AuthChallenge", (("recorder_nonce", BYTES),), None, PUBLIC),
    (0x83, "AuthAccepted", (("recorder_proof", BYTES),), None, PUBLIC),
    (
        0x90,
        "Identity",
        (
            ("device_serial", STR),
            ("model", STR),
            ("firmware_version", STR),
            ("protocol_version", U16),
            ("is_paired", BOOL),
            # The GA/T 947.4 identity record (cSerial, userNo, userName, unitNo, unitName).
            ("officer_number", STR),
            ("officer_name", STR),
            ("unit_number", STR),
            ("unit_name", STR),
        ),
        None,
        PUBLIC,
    ),
    (
        0x91,
        "Status",
        (
            ("battery_pct", U8),
            ("is_charging", BOOL),
            ("storage_total_bytes", U64),
            ("storage_free_bytes", U64),
            ("clock_utc_ms", I64),
            ("is_recording", BOOL),
            ("is_mass_storage_on", BOOL),
        ),
        None,
        PUBLIC,
    ),
    (0x93, "ClipPage", (("total", U32), ("clips", (LIST, CLIP_FIELDS))), None, PUBLIC),
    (
        0x94,
        "EventPage",
        (("next_cursor", U32), ("total", U32), ("events", (LIST, EVENT_FIELDS))),
        None,
        PUBLIC,
    ),
    (0xB0, "FirmwareProgress", FIRMWARE_PROGRESS_FIELDS, None, PUBLIC),
    (
        0xB1,
        "FirmwareState",
        (
            ("running_slot", U8),
            ("running_version", STR),
            ("pending_slot", U8),  # NO_SLOT when nothing waits for a test boot
            ("pending_version", STR),
            ("last_result", U8),  # FIRMWARE_* below
            ("last_version", STR),  # the version last_result is about
        ),
        None,
        PUBLIC,
    ),
    (0xFF, "Error", (("code", U8), ("detail", STR)), None, PUBLIC),
)

# Error codes carried by the Error reply.
ERR_MALFORMED = 1
ERR_UNKNOWN_REQUEST = 2
ERR_NOT_AUTHENTICATED = 3
ERR_AUTH_FAILED = 4
ERR_NOT_FOUND = 5
ERR_HASH_MISMATCH = 6
ERR_STORAGE_FAULT = 7
ERR_ALREADY_PAIRED = 8
ERR_HELLO_FIRST = 9
ERR_BAD_VALUE = 10
ERR_LOCKED_OUT = 11
ERR_CLOCK_FAULT = 12
ERR_BAD_SIGNATURE = 13
ERR_WRONG_MODEL = 14
ERR_DOWNGRADE = 15
ERR_NO_TRANSFER = 16

# (code, name in PROTOCOL.md, words for logs): part of TABLE_HASH.
ERRORS = (
    (ERR_MALFORMED, "MALFORMED", "malformed request"),
    (ERR_UNKNOWN_REQUEST, "UNKNOWN_REQUEST", "unknown request"),
    (ERR_NOT_AUTHENTICATED, "NOT_AUTHENTICATED", "not authenticated"),
    (ERR_AUTH_FAILED, "AUTH_FAILED", "authentication failed"),
    (ERR_NOT_FOUND, "NOT_FOUND", "not found"),
    (ERR_HASH_MISMATCH, "HASH_MISMATCH", "hash does not match"),
    (ERR_STORAGE_FAULT, "STORAGE_FAULT", "storage fault"),
    (ERR_ALREADY_PAIRED, "ALREADY_PAIRED", "already paired"),
    (ERR_HELLO_FIRST, "HELLO_FIRST", "hello first"),
    (ERR_BAD_VALUE, "BAD_VALUE", "bad value"),
    (ERR_LOCKED_OUT, "LOCKED_OUT", "locked out after failed authentication"),
    (ERR_CLOCK_FAULT, "CLOCK_FAULT", "clock fault"),
    (ERR_BAD_SIGNATURE, "BAD_SIGNATURE", "image signature not from a trusted key"),
    (ERR_WRONG_MODEL, "WRONG_MODEL", "image is for another model"),
    (ERR_DOWNGRADE, "DOWNGRADE", "image is older than the running firmware"),
    (ERR_NO_TRANSFER, "NO_TRANSFER", "no firmware transfer under way"),
)
ERROR_NAMES = {}
for _code, _name, _words in ERRORS:
    ERROR_NAMES[_code] = _words

# Event kinds and interruption reasons in the recorder's event log.
EVENT_RECORDING_STARTED = 1
EVENT_RECORDING_STOPPED = 2
EVENT_INTERRUPTED = 3
EVENT_RESUMED = 4
EVENT_VOICE_NOTE = 5

EVENT_KINDS = (
    (EVENT_RECORDING_STARTED, "RECORDING_STARTED"),
    (EVENT_RECORDING_STOPPED, "RECORDING_STOPPED"),
    (EVENT_INTERRUPTED, "INTERRUPTED"),
    (EVENT_RESUMED, "RESUMED"),
    (EVENT_VOICE_NOTE, "VOICE_NOTE"),
)

REASON_NONE = 0
REASON_FAULT = 1
REASON_BATTERY = 2
REASON_STORAGE = 3
REASON_WEATHER = 4
REASON_PLACE_CHANGE = 5
REASON_OBSTRUCTION = 6
REASON_OTHER = 7

REASONS = (
    (REASON_NONE, "none"),
    (REASON_FAULT, "fault"),
    (REASON_BATTERY, "battery"),
    (REASON_STORAGE, "storage"),
    (REASON_WEATHER, "weather"),
    (REASON_PLACE_CHANGE, "place change"),
    (REASON_OBSTRUCTION, "obstruction"),
    (REASON_OTHER, "other"),
)
REASON_NAMES = {}
for _code, _name in REASONS:
    REASON_NAMES[_code] = _name

# FirmwareState.last_result: what became of the last image the recorder tried.
FIRMWARE_NONE = 0
FIRMWARE_PENDING = 1  # committed, waiting for its test boot
FIRMWARE_CONFIRMED = 2  # booted, passed its self-test, now the running slot
FIRMWARE_ROLLED_BACK = 3  # did not confirm itself: the old slot runs again

FIRMWARE_RESULTS = (
    (FIRMWARE_NONE, "none"),
    (FIRMWARE_PENDING, "pending"),
    (FIRMWARE_CONFIRMED, "confirmed"),
    (FIRMWARE_ROLLED_BACK, "rolled back"),
)
NO_SLOT = 0xFF
SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32

NONCE_SIZE = 16
KEY_SIZE = 32
SHA256_SIZE = 32

BY_ID = {}
BY_NAME = {}
for _entry in TABLE:
    BY_ID[_entry[0]] = _entry
    BY_NAME[_entry[1]] = _entry


def _canonical_fields(fields):
    parts = []
    for name, kind in fields:
        if isinstance(kind, tuple):
            parts.append(name + ":[" + _canonical_fields(kind[1]) + "]")
        else:
            parts.append(name + ":" + kind)
    return ",".join(parts)


def canonical_table(
    table=TABLE,
    errors=ERRORS,
    event_kinds=EVENT_KINDS,
    reasons=REASONS,
    firmware_results=FIRMWARE_RESULTS,
):
    """The table and its enumerations as text: what TABLE_HASH is the hash of."""
    lines = []
    for msg_id, name, fields, reply, flags in table:
        lines.append("%02x %s(%s)->%s/%d" % (msg_id, name, _canonical_fields(fields), reply, flags))
    lines.append("manifest(%s)" % _canonical_fields(MANIFEST_FIELDS))
    for code, name in firmware_results:
        lines.append("firmware %d %s" % (code, name))
    for entry in errors:
        lines.append("error %d %s" % (entry[0], entry[1]))
    for code, name in event_kinds:
        lines.append("event %d %s" % (code, name))
    for code, name in reasons:
        lines.append("reason %d %s" % (code, name))
    return "\n".join(lines)


def table_hash(text):
    """The 8 bytes Hello carries for a canonical table text."""
    return hashlib.sha256(text.encode()).digest()[:8]


TABLE_HASH = table_hash(canonical_table())


class MessageError(Exception):
    """A frame whose payload does not fit the message table."""


class Message:
    """A decoded message: its name and its fields by name (also readable as attributes)."""

    def __init__(self, name, fields):
        self.name = name
        self.fields = fields

    def __getattr__(self, attr):
        try:
            return self.__dict__["fields"][attr]
        except KeyError:
            raise AttributeError(attr) from None

    def __eq__(self, other):
        return (
            isinstance(other, Message) and self.name == other.name and self.fields == other.fields
        )

    def __repr__(self):
        return "Message(%r, %r)" % (self.name, self.fields)


def _pack_fields(fields, values, out):
    for name, kind in fields:
        value = values[name]
        if isinstance(kind, tuple):
            out.append(struct.pack("<H", len(value)))
            for item in value:
                _pack_fields(kind[1], item, out)
        elif kind in (STR, BYTES):
            raw = _encode_text(name, value) if kind == STR else bytes(value)
            out.append(struct.pack("<H", len(raw)))
            out.append(raw)
        elif kind == BOOL:
            out.append(b"\x01" if value else b"\x00")
        else:
            out.append(struct.pack("<" + kind, value))


def _encode_text(name, value):
    try:
        return value.encode("utf-8")
    except UnicodeError:  # a lone surrogate in a CPython str: nothing may send it
        raise MessageError("field %s cannot be sent as UTF-8" % name) from None


def pack(fields, values):
    """Bytes of values laid out as `fields` (a manifest, a payload): the payload encoding."""
    out = []  # type: list
    _pack_fields(fields, values, out)
    return b"".join(out)


def unpack(fields, payload):
    """The dict `pack` was given; MessageError when the bytes do not fit exactly."""
    values, pos = _unpack_fields(fields, payload, 0)
    if pos != len(payload):
        raise MessageError("%d unexpected bytes" % (len(payload) - pos))
    return values


def encode(name, values=None):
    """Return (msg_id, payload) for the message `name` with field values from a dict."""
    entry = BY_NAME[name]
    out = []  # type: list
    _pack_fields(entry[2], values or {}, out)
    return entry[0], b"".join(out)


def _utf8_error(raw):
    """Why raw is not well-formed UTF-8 (RFC 3629, Unicode table 3-7), or None if it is.

    Checked here rather than left to bytes.decode: MicroPython's decoder accepts overlong
    forms (C0 AF for "/"), surrogates (ED A0 80) and code points above U+10FFFF, which
    CPython refuses, and both ends must read a path or a name the same way.
    """
    i = 0
    end = len(raw)
    while i < end:
        lead = raw[i]
        if lead < 0x80:
            i += 1
            continue
        if 0xC2 <= lead <= 0xDF:
            count, low, high = 1, 0x80, 0xBF
        elif lead == 0xE0:
            count, low, high = 2, 0xA0, 0xBF  # below A0 is overlong
        elif lead == 0xED:
            count, low, high = 2, 0x80, 0x9F  # above 9F is a surrogate
        elif 0xE1 <= lead <= 0xEF:
            count, low, high = 2, 0x80, 0xBF
        elif lead == 0xF0:
            count, low, high = 3, 0x90, 0xBF  # below 90 is overlong
        elif 0xF1 <= lead <= 0xF3:
            count, low, high = 3, 0x80, 0xBF
        elif lead == 0xF4:
            count, low, high = 3, 0x80, 0x8F  # above 8F is beyond U+10FFFF
        else:
            return "byte 0x%02x at %d cannot start a character" % (lead, i)
        if i + count >= end:
            return "character at %d is cut short" % i
        second = raw[i + 1]
        if not low <= second <= high:
            return "overlong, surrogate or out-of-range character at %d" % i
        for j in range(i + 2, i + 1 + count):
            if not 0x80 <= raw[j] <= 0xBF:
                return "character at %d is cut short" % i
        i += 1 + count
    return None


def _decode_text(name, raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeError:
        text = None
    if text is not None and len(text) == len(raw):
        return text  # all ASCII: nothing to check
    problem = _utf8_error(raw)
    if problem is None and text is None:
        problem = "refused by the decoder"
    if problem is not None:
        raise MessageError("field %s is not UTF-8: %s" % (name, problem))
    return text


def _take(payload, pos, size):
    if pos + size > len(payload):
        raise MessageError("payload ends %d bytes early" % (pos + size - len(payload)))
    return pos + size


def _unpack_fields(fields, payload, pos):
    values = {}  # type: dict
    for name, kind in fields:
        if isinstance(kind, tuple):
            end = _take(payload, pos, 2)
            (count,) = struct.unpack("<H", payload[pos:end])
            pos = end
            items = []
            for _ in range(count):
                item, pos = _unpack_fields(kind[1], payload, pos)
                items.append(item)
            values[name] = items
        elif kind in (STR, BYTES):
            end = _take(payload, pos, 2)
            (size,) = struct.unpack("<H", payload[pos:end])
            pos, end = end, _take(payload, end, size)
            raw = bytes(payload[pos:end])
            if kind == STR:
                values[name] = _decode_text(name, raw)
            else:
                values[name] = raw
            pos = end
        elif kind == BOOL:
            end = _take(payload, pos, 1)
            if payload[pos] > 1:
                raise MessageError("field %s is not a boolean" % name)
            values[name] = payload[pos] == 1
            pos = end
        else:
            end = _take(payload, pos, struct.calcsize("<" + kind))
            (values[name],) = struct.unpack("<" + kind, payload[pos:end])
            pos = end
    return values, pos


def decode(msg_id, payload):
    """Return the Message for a frame's msg_id and payload; MessageError if it does not fit."""
    entry = BY_ID.get(msg_id)
    if entry is None:
        raise MessageError("unknown message id 0x%02x" % msg_id)
    values, pos = _unpack_fields(entry[2], payload, 0)
    if pos != len(payload):
        raise MessageError("%d unexpected bytes after %s" % (len(payload) - pos, entry[1]))
    return Message(entry[1], values)


def reply_name(request_name):
    return BY_NAME[request_name][3]


def is_privileged(request_name):
    return BY_NAME[request_name][4] == PRIVILEGED
