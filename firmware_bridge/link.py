"""Request and reply over any transport: sequence numbers, bounded waits, bounded retries.

The recorder answers each request once and keeps its last reply, so resending the very same
frame (same seq) after a lost reply is safe: a retried DeleteClip acts once. Every wait has
an end: a reply that does not come within `timeout_s` of line silence is asked for again, at
most `retries` times, and no single attempt lasts more than `max_attempt_s` however much
noise the line carries. See "Sequence numbers and retries" in PROTOCOL.md.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from firmware_bridge import messages
from firmware_bridge.errors import LinkTimeout, ProtocolError, Refused
from firmware_bridge.framing import Frame, FrameError, FrameReader, encode_frame
from firmware_bridge.transport import Transport

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 4096


@dataclass
class LinkStats:
    """Counts of what went wrong on the line, for logs and the bay's diagnostics."""

    requests: int = 0
    retries: int = 0
    frame_errors: int = 0
    cut_frames: int = 0
    out_of_sequence: int = 0


class Link:
    """One conversation with one recorder: a request at a time, in order."""

    def __init__(
        self,
        transport: Transport,
        *,
        timeout_s: float = 0.5,
        retries: int = 3,
        max_attempt_s: float = 5.0,
    ) -> None:
        if timeout_s <= 0 or retries < 0 or max_attempt_s < timeout_s:
            raise ValueError("need timeout_s > 0, retries >= 0, max_attempt_s >= timeout_s")
        self.transport = transport
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_attempt_s = max_attempt_s
        self.stats = LinkStats()
        self._reader = FrameReader()
        self._backlog: deque[Frame | FrameError] = deque()
        # A random start, so a new dock process does not reuse the seq of the recorder's
        # stored last reply and get that stale reply instead of an answer.
        self._seq = secrets.randbelow(256)
        self._lock = threading.Lock()

    def request(self, name: str, fields: dict | None = None) -> messages.Message:
        """Send request `name` and return its reply; raise a LinkError subclass otherwise.

        Error replies raise Refused, a reply of another kind raises ProtocolError, silence
        after every retry raises LinkTimeout; a vanished port raises TransportClosed.
        """
        msg_id, payload = messages.encode(name, fields)
        with self._lock:
            self._seq = (self._seq + 1) & 0xFF
            seq = self._seq
            frame = encode_frame(seq, msg_id, payload)
            self.stats.requests += 1
            # A partial frame left from an earlier request can only be the tail of a reply
            # nobody waits for any more.
            self._drop_partial()
            for attempt in range(self.retries + 1):
                if attempt:
                    self.stats.retries += 1
                    log.debug("retry %d of %s (seq %d)", attempt, name, seq)
                self.transport.write(frame)
                reply = self._await(seq)
                if reply is not None:
                    return self._check(name, reply)
        raise LinkTimeout(
            f"recorder did not answer {name} within {self.timeout_s:g} s, "
            f"{self.retries} retries: check the cable and that the recorder is switched on"
        )

    def close(self) -> None:
        self.transport.close()

    def _await(self, seq: int) -> Frame | None:
        """The reply frame carrying seq, or None when the line stayed quiet too long."""
        start = last_progress = time.monotonic()
        while True:
            while self._backlog:
                item = self._backlog.popleft()
                if isinstance(item, FrameError):
                    self.stats.frame_errors += 1
                    log.debug("frame error #%d: %s", self.stats.frame_errors, item.reason)
                elif item.seq != seq:
                    self.stats.out_of_sequence += 1
                    log.debug(
                        "discarded out-of-sequence reply #%d: seq %d, waiting for %d",
                        self.stats.out_of_sequence,
                        item.seq,
                        seq,
                    )
                else:
                    self._backlog.clear()  # anything after our reply is stale by definition
                    return item
            now = time.monotonic()
            wait_s = min(last_progress + self.timeout_s, start + self.max_attempt_s) - now
            if wait_s <= 0:
                self._drop_partial()
                return None
            data = self.transport.read(READ_CHUNK_BYTES, wait_s)
            if data:
                last_progress = time.monotonic()
                self._backlog.extend(self._reader.feed(data))

    def _drop_partial(self) -> None:
        if self._reader.has_partial():
            self.stats.cut_frames += 1
            log.debug(
                "dropped a cut frame #%d (%d bytes)", self.stats.cut_frames, len(self._reader.buf)
            )
            self._backlog.extend(rescan_partial(self._reader))

    def _check(self, request: str, frame: Frame) -> messages.Message:
        try:
            reply = messages.decode(frame.msg_id, frame.payload)
        except messages.MessageError as err:
            raise ProtocolError(f"recorder's reply to {request} is malformed: {err}") from None
        if reply.name == "Error":
            raise Refused(reply.code, reply.detail, request)
        expected = messages.reply_name(request)
        if reply.name != expected:
            raise ProtocolError(f"recorder answered {request} with {reply.name}, not {expected}")
        return reply


def rescan_partial(reader: FrameReader) -> list[Frame | FrameError]:
    """Give up on a frame that stopped arriving, and rescan its bytes past the sync.

    Noise (or a corrupted length) can look like the header of a long frame; rescanning
    finds any whole frame hidden behind it instead of waiting for bytes never sent.
    """
    rest = reader.buf[1:]
    reader.reset()
    return reader.feed(rest)
