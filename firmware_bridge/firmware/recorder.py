"""The recorder's side of the link: request frames in, reply frames out, nothing else.

`handle` is a function of the request and the recorder's state, with every piece of
hardware behind `board.Board`, so the same code runs on a board, in the simulator and under
MicroPython against golden vectors. The I/O loop (main.py, sim/) only moves bytes, tells
us when the line went quiet (`on_line_idle`) and when USB went away (`on_usb_detached`).
Nothing here may raise: a recorder that crashes on a bad frame is a recorder that stops
recording. MicroPython subset: no f-strings, no typing at run time.
"""

from firmware_bridge import auth, messages
from firmware_bridge.firmware import update
from firmware_bridge.framing import MAX_PAYLOAD, Frame, FrameReader, encode_frame
from firmware_bridge.messages import (
    ERR_ALREADY_PAIRED,
    ERR_AUTH_FAILED,
    ERR_BAD_VALUE,
    ERR_CLOCK_FAULT,
    ERR_HASH_MISMATCH,
    ERR_HELLO_FIRST,
    ERR_LOCKED_OUT,
    ERR_MALFORMED,
    ERR_NOT_AUTHENTICATED,
    ERR_NOT_FOUND,
    ERR_STORAGE_FAULT,
    ERR_UNKNOWN_REQUEST,
    KEY_SIZE,
    NONCE_SIZE,
    SHA256_SIZE,
)

MAX_AUTH_FAILURES = 5
MIN_CLOCK_UTC_MS = 1577836800000  # 2020-01-01T00:00:00Z: an RTC before this was never set
FRAME_IDLE_MS = 200
_DETAIL_MAX = 120
# The smallest encoded event is 16 bytes (a clip is larger): no page holds more items, so
# never look at more than this many, whatever max_count the dock asks for.
_MAX_PAGE_ITEMS = MAX_PAYLOAD // 16


class _Refusal(Exception):
    """Internal: the request is answered with Error(code, detail)."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _one_line(text):
    text = " ".join(str(text).split())
    return text[:_DETAIL_MAX]


def _error_frame(seq, code, detail):
    msg_id, payload = messages.encode("Error", {"code": code, "detail": _one_line(detail)})
    return Frame(seq, msg_id, payload)


def _page_item_sizes(reply_name, head, list_name, items):
    """Encoded size of each list item: fit a page to MAX_PAYLOAD without guessing."""
    empty = dict(head)
    empty[list_name] = []
    base = len(messages.encode(reply_name, empty)[1])
    sizes = []
    for item in items:
        one = dict(head)
        one[list_name] = [item]
        sizes.append(len(messages.encode(reply_name, one)[1]) - base)
    return base, sizes


def _fit(base_bytes, sizes):
    """How many items, from the first, fit in one payload."""
    used = base_bytes
    count = 0
    for size in sizes:
        if used + size > MAX_PAYLOAD:
            break
        used += size
        count += 1
    return count


class Recorder:
    """Serves the dock's requests over one USB insertion at a time (see PROTOCOL.md)."""

    def __init__(self, board, protocol_version=None, table_hash=None):
        self.board = board
        # Overridable only so the simulator can play a recorder flashed with another version.
        self.protocol_version = (
            messages.PROTOCOL_VERSION if protocol_version is None else protocol_version
        )
        self.table_hash = messages.TABLE_HASH if table_hash is None else table_hash
        self._reader = FrameReader()
        self._updater = update.Updater(board)
        self.reboot_requested = False
        """Set by FirmwareCommit: the I/O loop reboots once the reply is out."""
        self._auth_failures = 0
        self._last_request = None  # type: Frame | None
        self._last_reply = None  # type: Frame | None
        self._start_conversation()
        self._has_hello = False

    # -- the thin edge the I/O loop calls -------------------------------------------------

    def receive(self, data):
        """Bytes from the host in, bytes to send back out (zero or more reply frames)."""
        out = []
        for request in self.feed(data):
            reply = self.handle(request)
            out.append(encode_frame(reply.seq, reply.msg_id, reply.payload))
        return b"".join(out)

    def feed(self, data):
        """The whole request frames completed by `data`, in order; frame errors dropped.

        A dropped frame gets no reply: the dock times out and retries the same frame.
        """
        return [item for item in self._reader.feed(data) if isinstance(item, Frame)]

    def on_line_idle(self):
        """The line went quiet mid-frame: drop the partial frame (FRAME_IDLE_MS)."""
        self._reader.reset()

    def on_usb_detached(self):
        """End of an insertion: authentication ends, storage goes dark, Hello is forgotten."""
        self._reader.reset()
        self._start_conversation()
        self._has_hello = False
        self._auth_failures = 0
        try:  # noqa: SIM105 - MicroPython has no contextlib
            self.board.set_mass_storage(False)
        except Exception:  # the switch failing must not keep us from resetting
            pass

    def has_partial_frame(self):
        return self._reader.has_partial()

    # -- request handling ----------------------------------------------------------------

    def handle(self, frame):
        """One request frame -> one reply frame. Never raises."""
        last, last_reply = self._last_request, self._last_reply
        if last is not None and last_reply is not None and last == frame:
            # A retry of the request we just answered: resend, do not act twice.
            return last_reply
        try:
            reply = self._dispatch(frame)
            if len(reply.payload) > MAX_PAYLOAD:
                raise _Refusal(ERR_STORAGE_FAULT, "reply does not fit in a frame")
        except _Refusal as refusal:
            reply = _error_frame(frame.seq, refusal.code, refusal.detail)
        except Exception as err:  # any board failure is a storage fault
            reply = _error_frame(frame.seq, ERR_STORAGE_FAULT, "%s: %s" % (type(err).__name__, err))
        self._last_request = frame
        self._last_reply = reply
        return reply

    def _start_conversation(self):
        self._is_authenticated = False
        self._dock_nonce = None
        self._recorder_nonce = None
        self._clips = None
        self._last_request = None
        self._last_reply = None

    def _dispatch(self, frame):
        entry = messages.BY_ID.get(frame.msg_id)
        if entry is None or entry[3] is None:
            raise _Refusal(ERR_UNKNOWN_REQUEST, "no request 0x%02x" % frame.msg_id)
        name = entry[1]
        if name != "Hello" and not self._has_hello:
            raise _Refusal(ERR_HELLO_FIRST, "send Hello first")
        try:
            request = messages.decode(frame.msg_id, frame.payload)
        except messages.MessageError as err:
            raise _Refusal(ERR_MALFORMED, "%s: %s" % (name, err)) from None
        if entry[4] == messages.PRIVILEGED and not self._is_authenticated:
            raise _Refusal(ERR_NOT_AUTHENTICATED, "%s needs AuthProve first" % name)
        handler = getattr(self, "_on_" + name)
        reply_name, values = handler(request.fields)
        msg_id, payload = messages.encode(reply_name, values)
        return Frame(frame.seq, msg_id, payload)

    def _serial(self):
        return self.board.serial()

    def _on_Hello(self, fields):
        # Whatever the dock speaks, we say what we speak: the dock decides, loudly.
        self._start_conversation()
        self._has_hello = True
        return "HelloReply", {
            "protocol_version": self.protocol_version,
            "table_hash": self.table_hash,
            "device_serial": self._serial(),
        }

    def _on_AuthBegin(self, fields):
        self._check_not_locked_out()
        if len(fields["dock_nonce"]) != NONCE_SIZE:
            raise _Refusal(ERR_BAD_VALUE, "dock_nonce must be %d bytes" % NONCE_SIZE)
        if self.board.load_key() is None:
            raise _Refusal(ERR_NOT_AUTHENTICATED, "recorder is not paired; Pair it first")
        self._is_authenticated = False
        self._dock_nonce = fields["dock_nonce"]
        self._recorder_nonce = self.board.random_bytes(NONCE_SIZE)
        return "AuthChallenge", {"recorder_nonce": self._recorder_nonce}

    def _on_AuthProve(self, fields):
        self._check_not_locked_out()
        dock_nonce, recorder_nonce = self._dock_nonce, self._recorder_nonce
        if dock_nonce is None or recorder_nonce is None:
            raise _Refusal(ERR_NOT_AUTHENTICATED, "send AuthBegin first")
        # One proof per challenge: a new guess needs a new recorder nonce.
        self._dock_nonce = self._recorder_nonce = None
        key = self.board.load_key()
        serial = self._serial()
        expected = auth.dock_proof(key, recorder_nonce, dock_nonce, serial)
        if not auth.equal(fields["dock_proof"], expected):
            self._auth_failures += 1
            raise _Refusal(
                ERR_AUTH_FAILED,
                "wrong proof (%d of %d)" % (self._auth_failures, MAX_AUTH_FAILURES),
            )
        self._is_authenticated = True
        proof = auth.recorder_proof(key, recorder_nonce, dock_nonce, serial)
        return "AuthAccepted", {"recorder_proof": proof}

    def _check_not_locked_out(self):
        if self._auth_failures >= MAX_AUTH_FAILURES:
            raise _Refusal(ERR_LOCKED_OUT, "unplug the recorder to try again")

    def _on_Pair(self, fields):
        key = fields["new_key"]
        if len(key) != KEY_SIZE:
            raise _Refusal(ERR_BAD_VALUE, "new_key must be %d bytes" % KEY_SIZE)
        if self.board.load_key() is not None and not self._is_authenticated:
            raise _Refusal(ERR_ALREADY_PAIRED, "authenticate with the current key to re-key")
        self.board.save_key(bytes(key))
        return "Ok", {}

    def _on_Identify(self, fields):
        identity = self.board.load_identity() or {}
        board = self.board
        return "Identity", {
            "device_serial": self._serial(),
            "model": board.model(),
            "firmware_version": update.running_version(board),
            "protocol_version": self.protocol_version,
            "is_paired": board.load_key() is not None,
            "officer_number": identity.get("officer_number", ""),
            "officer_name": identity.get("officer_name", ""),
            "unit_number": identity.get("unit_number", ""),
            "unit_name": identity.get("unit_name", ""),
        }

    def _on_GetStatus(self, fields):
        board = self.board
        return "Status", {
            "battery_pct": max(0, min(100, int(board.battery_pct()))),
            "is_charging": bool(board.is_charging()),
            "storage_total_bytes": board.total_bytes(),
            "storage_free_bytes": board.free_bytes(),
            "clock_utc_ms": board.now_ms(),
            "is_recording": bool(board.is_recording()),
            "is_mass_storage_on": bool(board.is_mass_storage_on()),
        }

    def _on_SetClock(self, fields):
        clock_utc_ms = fields["clock_utc_ms"]
        if clock_utc_ms < MIN_CLOCK_UTC_MS:
            raise _Refusal(ERR_BAD_VALUE, "clock before 2020 refused")
        try:
            self.board.set_ms(clock_utc_ms)
        except Exception as err:  # the RTC, not the card: say so, the dock tells the officer
            raise _Refusal(ERR_CLOCK_FAULT, "%s: %s" % (type(err).__name__, err)) from None
        return "Ok", {}

    def _listing(self):
        """The card's clips sorted by path, kept for the insertion so paging is stable."""
        if self._clips is None:
            clips = list(self.board.list_clips())
            clips.sort(key=lambda clip: clip["path"])
            self._clips = clips
        return self._clips

    def _on_ListClips(self, fields):
        clips = self._listing()
        start = fields["start_index"]
        wanted = clips[start : start + min(fields["max_count"], _MAX_PAGE_ITEMS)]
        head = {"total": len(clips)}  # type: dict
        base, sizes = _page_item_sizes("ClipPage", head, "clips", wanted)
        count = _fit(base, sizes)
        if wanted and count == 0:
            raise _Refusal(ERR_STORAGE_FAULT, "clip %d does not fit in a frame" % start)
        head["clips"] = wanted[:count]
        return "ClipPage", head

    def _on_ReadEvents(self, fields):
        events = list(self.board.events())
        cursor = fields["cursor"]
        wanted = events[cursor : cursor + min(fields["max_count"], _MAX_PAGE_ITEMS)]
        head = {"next_cursor": 0, "total": len(events)}  # type: dict
        base, sizes = _page_item_sizes("EventPage", head, "events", wanted)
        count = _fit(base, sizes)
        if wanted and count == 0:
            raise _Refusal(ERR_STORAGE_FAULT, "event %d does not fit in a frame" % cursor)
        head["next_cursor"] = cursor + count
        head["events"] = wanted[:count]
        return "EventPage", head

    def _on_SetMassStorage(self, fields):
        self.board.set_mass_storage(fields["is_on"])
        self._clips = None  # whatever the host did while it held the card, list again
        return "Ok", {}

    def _on_DeleteClip(self, fields):
        path, sha256 = fields["path"], fields["sha256"]
        if len(sha256) != SHA256_SIZE:
            raise _Refusal(ERR_BAD_VALUE, "sha256 must be %d bytes" % SHA256_SIZE)
        clip = None
        for candidate in self._listing():
            if candidate["path"] == path:
                clip = candidate
                break
        if clip is None:
            raise _Refusal(ERR_NOT_FOUND, "no clip %s" % path)
        device_sha256 = clip["sha256"] or self.board.clip_sha256(path)
        if device_sha256 != sha256:
            raise _Refusal(ERR_HASH_MISMATCH, "%s has another hash; not deleted" % path)
        self._clips = None
        self.board.delete_clip(path)
        return "Ok", {}

    def _on_WriteIdentity(self, fields):
        identity = {}
        for key in ("officer_number", "officer_name", "unit_number", "unit_name"):
            identity[key] = fields[key]
        self.board.save_identity(identity)
        return "Ok", {}

    def _update_step(self, step, fields):
        try:
            return step(fields)
        except update.UpdateRefused as refusal:
            raise _Refusal(refusal.code, refusal.detail) from None

    def _on_FirmwareBegin(self, fields):
        return "FirmwareProgress", self._update_step(self._updater.begin, fields)

    def _on_FirmwareChunk(self, fields):
        return "FirmwareProgress", self._update_step(self._updater.chunk, fields)

    def _on_FirmwareCommit(self, fields):
        state = self._update_step(self._updater.commit, fields)
        self.reboot_requested = True
        return "FirmwareState", state

    def _on_FirmwareStatus(self, fields):
        return "FirmwareState", update.firmware_state(self.board)
