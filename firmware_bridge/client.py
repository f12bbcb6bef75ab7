"""The dock's side of a recorder conversation: one method per request, typed answers.

The dataclasses below carry the wire field names of messages.py, one for one, and are built
with `Cls(**message.fields)`: the table stays declared once, and a table change that these
classes do not follow fails at the first reply (and in tests) instead of misreading a field.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Self

from firmware_bridge import auth, messages
from firmware_bridge.errors import (
    AuthenticationFailed,
    ProtocolError,
    ProtocolMismatch,
    Refused,
    TooManyClips,
)
from firmware_bridge.framing import MAX_PAYLOAD
from firmware_bridge.link import Link, LinkStats
from firmware_bridge.transport import SerialTransport, Transport

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGE_MAX_COUNT = 1000  # the recorder sends fewer when they do not fit in one frame


def _utc_from_s(utc_s: int) -> datetime:
    try:
        return EPOCH + timedelta(seconds=utc_s)
    except OverflowError:
        raise ProtocolError(f"recorder sent a time out of range: {utc_s} s") from None


@dataclass(frozen=True)
class HelloInfo:
    protocol_version: int
    table_hash: bytes
    device_serial: str


@dataclass(frozen=True)
class Identity:
    device_serial: str
    model: str
    firmware_version: str
    protocol_version: int
    is_paired: bool
    officer_number: str  # 警号
    officer_name: str
    unit_number: str
    unit_name: str


@dataclass(frozen=True)
class Status:
    battery_pct: int
    is_charging: bool
    storage_total_bytes: int
    storage_free_bytes: int
    clock_utc_ms: int
    is_recording: bool
    is_mass_storage_on: bool

    @property
    def clock_utc(self) -> datetime:
        """The recorder's clock as an aware UTC datetime."""
        try:
            return EPOCH + timedelta(milliseconds=self.clock_utc_ms)
        except OverflowError:
            raise ProtocolError(f"recorder clock out of range: {self.clock_utc_ms} ms") from None


@dataclass(frozen=True)
class ClipInfo:
    path: str  # a name from the card: data, never a local path
    start_utc_s: int
    end_utc_s: int
    size_bytes: int
    sha256: bytes  # empty when the firmware keeps no hash
    is_important: bool
    place: str

    @property
    def start_utc(self) -> datetime:
        return _utc_from_s(self.start_utc_s)

    @property
    def end_utc(self) -> datetime:
        return _utc_from_s(self.end_utc_s)


@dataclass(frozen=True)
class RecorderEvent:
    index: int
    utc_s: int
    kind: int  # messages.EVENT_*
    reason: int  # messages.REASON_*
    clip_path: str

    @property
    def utc(self) -> datetime:
        return _utc_from_s(self.utc_s)

    @property
    def reason_name(self) -> str:
        return messages.REASON_NAMES.get(self.reason, f"reason {self.reason}")


@dataclass(frozen=True)
class EventBatch:
    events: tuple[RecorderEvent, ...]
    next_cursor: int  # where the next read_events continues
    total: int


@dataclass(frozen=True)
class FirmwareProgress:
    image_sha256: bytes
    next_offset: int  # the recorder has every byte before this
    size_bytes: int


@dataclass(frozen=True)
class FirmwareState:
    running_slot: int
    running_version: str
    pending_slot: int  # messages.NO_SLOT when none
    pending_version: str
    last_result: int  # messages.FIRMWARE_*
    last_version: str

    @property
    def last_result_name(self) -> str:
        return dict(messages.FIRMWARE_RESULTS).get(self.last_result, f"result {self.last_result}")


# The most image bytes one FirmwareChunk carries: a full frame less the offset and length.
MAX_CHUNK_BYTES = MAX_PAYLOAD - 4 - 2


class RecorderClient:
    """Talks to one recorder over one transport. Not shared between threads."""

    def __init__(self, transport: Transport, *, timeout_s: float = 0.5, retries: int = 3):
        self.link = Link(transport, timeout_s=timeout_s, retries=retries)
        self.device_serial: str | None = None

    @classmethod
    def open(cls, port_path: str, *, timeout_s: float = 0.5, retries: int = 3) -> Self:
        """A client on a serial port (a recorder's tty or the simulator's pty)."""
        return cls(SerialTransport(port_path), timeout_s=timeout_s, retries=retries)

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stats(self) -> LinkStats:
        return self.link.stats

    def hello(self) -> HelloInfo:
        """Start the conversation; ProtocolMismatch unless both ends speak the same table."""
        reply = self.link.request(
            "Hello",
            {"protocol_version": messages.PROTOCOL_VERSION, "table_hash": messages.TABLE_HASH},
        )
        info = HelloInfo(**reply.fields)
        if (info.protocol_version, info.table_hash) != (
            messages.PROTOCOL_VERSION,
            messages.TABLE_HASH,
        ):
            raise ProtocolMismatch(
                info.protocol_version,
                info.table_hash,
                messages.PROTOCOL_VERSION,
                messages.TABLE_HASH,
                serial=info.device_serial,
            )
        self.device_serial = info.device_serial
        return info

    def identify(self) -> Identity:
        identity = Identity(**self.link.request("Identify").fields)
        self.device_serial = identity.device_serial
        return identity

    def status(self) -> Status:
        return Status(**self.link.request("GetStatus").fields)

    def authenticate(self, key: bytes) -> None:
        """Prove we hold the pairing key, and check that the recorder holds it too."""
        _check_size("pairing key", key, messages.KEY_SIZE)
        serial = (
            self.device_serial if self.device_serial is not None else self.hello().device_serial
        )
        dock_nonce = secrets.token_bytes(messages.NONCE_SIZE)
        try:
            challenge = self.link.request("AuthBegin", {"dock_nonce": dock_nonce})
            recorder_nonce = challenge.recorder_nonce
            if len(recorder_nonce) != messages.NONCE_SIZE:
                raise ProtocolError(f"recorder sent a nonce of {len(recorder_nonce)} bytes, not 16")
            proof = auth.dock_proof(key, recorder_nonce, dock_nonce, serial)
            accepted = self.link.request("AuthProve", {"dock_proof": proof})
        except Refused as err:
            if err.code == messages.ERR_AUTH_FAILED:
                raise AuthenticationFailed(
                    f"recorder {serial} rejected the dock's pairing key: "
                    "check the device is registered to this agency"
                ) from None
            if err.code == messages.ERR_LOCKED_OUT:
                raise AuthenticationFailed(
                    f"recorder {serial} locked out after failed proofs: undock and dock it again"
                ) from None
            raise
        expected = auth.recorder_proof(key, recorder_nonce, dock_nonce, serial)
        if not auth.equal(accepted.recorder_proof, expected):
            raise AuthenticationFailed(
                f"recorder {serial} did not prove it holds the pairing key: do not trust it"
            )

    def pair(self, key: bytes) -> None:
        """Write a new pairing key (a fresh recorder, or re-keying after authenticate)."""
        _check_size("pairing key", key, messages.KEY_SIZE)
        self.link.request("Pair", {"new_key": key})

    def set_clock(self, moment: datetime) -> None:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("set_clock needs an aware datetime, got a naive one")
        clock_utc_ms = (moment - EPOCH) // timedelta(milliseconds=1)
        self.link.request("SetClock", {"clock_utc_ms": clock_utc_ms})

    def iter_clips(
        self, *, max_total: int | None = None, page_max_count: int = PAGE_MAX_COUNT
    ) -> Iterator[ClipInfo]:
        """Every clip on the card, page after page, in the recorder's (stable) order.

        A page at a time: nothing here holds more than one page, whatever the recorder
        claims. The claimed total is checked against `max_total` before a second request
        is sent (TooManyClips), and it may not change while paging (ProtocolError).
        """
        total: int | None = None
        index = 0
        while total is None or index < total:
            page = self.link.request(
                "ListClips", {"start_index": index, "max_count": page_max_count}
            )
            if total is None:
                total = page.total
                if max_total is not None and total > max_total:
                    raise TooManyClips(total, max_total)
            elif page.total != total:
                raise ProtocolError(f"clip count changed from {total} to {page.total} mid-listing")
            if not page.clips and index < total:
                raise ProtocolError(f"listing stopped at clip {index} of {total}")
            if index + len(page.clips) > total:
                raise ProtocolError(f"recorder listed more than the {total} clips it claimed")
            for fields in page.clips:
                yield ClipInfo(**fields)
            index += len(page.clips)

    def list_clips(
        self, *, max_total: int | None = None, page_max_count: int = PAGE_MAX_COUNT
    ) -> list[ClipInfo]:
        return list(self.iter_clips(max_total=max_total, page_max_count=page_max_count))

    def read_events(self, cursor: int = 0, *, page_max_count: int = PAGE_MAX_COUNT) -> EventBatch:
        """Every event from cursor to the end of the recorder's log."""
        events: list[RecorderEvent] = []
        while True:
            page = self.link.request("ReadEvents", {"cursor": cursor, "max_count": page_max_count})
            events.extend(RecorderEvent(**fields) for fields in page.events)
            if page.next_cursor >= page.total or not page.events:
                return EventBatch(tuple(events), page.next_cursor, page.total)
            if page.next_cursor <= cursor:
                raise ProtocolError(f"event cursor did not advance from {cursor}")
            cursor = page.next_cursor

    def set_mass_storage(self, is_on: bool) -> None:
        """Show or hide the card over USB; privileged, and only for this insertion."""
        self.link.request("SetMassStorage", {"is_on": is_on})

    def delete_clip(self, path: str, sha256: bytes) -> None:
        """Delete one clip; the recorder refuses (HASH_MISMATCH) unless sha256 is its hash."""
        _check_size("sha256", sha256, messages.SHA256_SIZE)
        self.link.request("DeleteClip", {"path": path, "sha256": sha256})

    def firmware_begin(
        self, manifest: bytes, signature: bytes, *, allow_downgrade: bool = False
    ) -> FirmwareProgress:
        """Offer a signed image; the reply says from which offset to send (0, or a resume)."""
        reply = self.link.request(
            "FirmwareBegin",
            {"manifest": manifest, "signature": signature, "allow_downgrade": allow_downgrade},
        )
        return FirmwareProgress(**reply.fields)

    def firmware_chunk(self, offset: int, data: bytes) -> FirmwareProgress:
        reply = self.link.request("FirmwareChunk", {"offset": offset, "data": data})
        return FirmwareProgress(**reply.fields)

    def firmware_commit(self, image_sha256: bytes) -> FirmwareState:
        """Ask for the hash check and a test boot; the recorder restarts after replying."""
        reply = self.link.request("FirmwareCommit", {"image_sha256": image_sha256})
        return FirmwareState(**reply.fields)

    def firmware_status(self) -> FirmwareState:
        return FirmwareState(**self.link.request("FirmwareStatus").fields)

    def write_identity(
        self, *, officer_number: str, officer_name: str, unit_number: str, unit_name: str
    ) -> None:
        """Write the GA/T 947.4 identity record (警号, name, unit) when assigning a recorder."""
        self.link.request(
            "WriteIdentity",
            {
                "officer_number": officer_number,
                "officer_name": officer_name,
                "unit_number": unit_number,
                "unit_name": unit_name,
            },
        )


def _check_size(what: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(value)}")
