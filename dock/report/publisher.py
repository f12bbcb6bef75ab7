"""The MQTT publisher: every journal row, in order, to the registry, losing nothing.

A durable journal reader (its cursor in data_dir/report.cursor): rows after the cursor are
published at QoS 1, at most `max_inflight` unacknowledged. The cursor moves only when the
broker's PUBACK says a reason code under 0x80, and only over contiguous ids, so a broker down
for hours, a restart or a power cut republish what was not acknowledged and skip nothing.
The cursor file is written at most every CURSOR_SAVE_S and at a clean stop, not per ack: a
power cut may publish a few acknowledged rows again, which the registry drops by row id.
A refusal (0x87 not authorized: the ACL) is logged once and stops the cursor for good; the
return code of publish() is never trusted (a publish while disconnected is still queued, and
paho resends its unacknowledged messages itself on reconnect, with the same ids).
Runs on its own thread, woken by the bus; never inside a bay's transaction or paho's thread.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from dock import journal
from dock.clock import Clock
from dock.config import Settings
from dock.db.database import Database
from dock.db.models import Bay, JournalRow
from dock.errors import ConfigError
from dock.events import BayStateChanged, Event
from dock.journal_reader import CursorFile
from dock.lights import BayLight, pattern_for, read_into, saved_projection
from dock.report import signing
from dock.report.state import STATE_NAME, ReportState
from firmware_bridge import reporting

log = logging.getLogger(__name__)
CURSOR_NAME = STATE_NAME
READ_AHEAD = 500  # journal rows read (and encoded) at a time
CURSOR_SAVE_S = 0.5  # the cursor file is written at most this often (and at a clean stop)
VERSION = "1"


def _readable(key: str, path: str) -> str:
    """A configured file the client needs, or a one-line ConfigError saying which and why."""
    try:
        with open(path, "rb"):
            return path
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfigError(
            f"config: mqtt.{key} = {path!r}: cannot read it ({reason}); fix the path or "
            "its permissions"
        ) from None


class Publisher:
    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.settings, self.db, self.clock = settings, db, clock
        self.mqtt = settings.mqtt
        self.dock_id = settings.dock.dock_id
        self.prefix = self.mqtt.topic_prefix
        data_dir = Path(settings.dock.data_dir)
        self.key = signing.load_or_create_key(data_dir)
        self.cursor_file = CursorFile(data_dir / CURSOR_NAME)
        loaded = self.cursor_file.load()
        self.cursor = loaded[0] if loaded else 0  # the last acknowledged row id
        saved = ReportState(**loaded[1]) if loaded and _is_state(loaded[1]) else ReportState()
        self.connected_at, self.disconnected_at = saved.connected_at, saved.disconnected_at
        self.last_refusal, self.refused_at = saved.refusal, saved.refused_at
        self._saved_cursor = self.cursor
        self._is_state_dirty = False
        self._saved_at_s = clock.monotonic_s()
        # Told True on connect, False when the broker is unreachable or refuses (the dock light).
        self.on_connectivity: list[Callable[[bool], None]] = []
        numbers = range(1, settings.bays.count + 1)
        projected = saved_projection(data_dir, numbers)
        self._lights_cursor, self._lights = projected or (0, {n: BayLight() for n in numbers})
        self._retained_due = False
        self._next_status_s = clock.monotonic_s() + self.mqtt.status_interval_s
        self._last_refused_rc: str | None = None
        self.connect_refusals = 0  # CONNACKs that refused the dock, since this start
        self._lock = threading.Condition()
        self._inflight: dict[int, int] = {}  # mid -> row id
        self._early: dict[int, Any] = {}  # mid -> reason code, acked before it was registered
        self._retained_mids: set[int] = set()  # retained publishes not yet acknowledged
        self._acked: set[int] = set()  # acknowledged ids above the cursor
        self._sent_up_to = self.cursor  # the last row handed to paho
        self._ahead: deque[tuple[int, str, bytes]] = deque()  # (id, topic, payload) to send
        self._window = self.mqtt.max_inflight + READ_AHEAD  # handed to paho, not yet acked
        self._low_water = max(1, READ_AHEAD // 2)
        self.refused: str | None = None
        self.is_connected = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None
        self._next_checkpoint_s = clock.monotonic_s() + 60 * self.mqtt.checkpoint_minutes
        self.client = self._client()

    # -- the client --------------------------------------------------------------------------

    def _client(self) -> mqtt.Client:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"dock-{self.dock_id}",
            protocol=mqtt.MQTTv5,
        )
        if self.mqtt.username:
            c.username_pw_set(self.mqtt.username, self._password())
        if self.mqtt.tls_ca_file:
            try:
                c.tls_set(
                    ca_certs=_readable("tls_ca_file", self.mqtt.tls_ca_file),
                    certfile=self.mqtt.tls_cert_file
                    and _readable("tls_cert_file", self.mqtt.tls_cert_file)
                    or None,
                    keyfile=self.mqtt.tls_key_file
                    and _readable("tls_key_file", self.mqtt.tls_key_file)
                    or None,
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except ssl.SSLError as err:
                raise ConfigError(
                    f"config: mqtt.tls_ca_file/tls_cert_file/tls_key_file: not a usable "
                    f"certificate or key ({err.reason or err}); check those files"
                ) from None
        c.will_set(reporting.availability_topic(self.prefix, self.dock_id), "offline", 1, True)
        c.reconnect_delay_set(self.mqtt.reconnect_min_s, self.mqtt.reconnect_max_s)
        c.max_inflight_messages_set(self.mqtt.max_inflight)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        return c

    def _password(self) -> str | None:
        """The first line of [mqtt] password_file (read again before each retry after a
        refusal, so a fixed file needs no restart)."""
        if not self.mqtt.password_file:
            return None
        path = _readable("password_file", self.mqtt.password_file)
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        if not lines or not lines[0]:
            raise ConfigError(
                f"config: mqtt.password_file = {path!r}: its first line is empty; "
                "put the dock's broker password there"
            )
        return lines[0]

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        now = reporting.iso_utc(self.clock.now_utc())
        if rc.is_failure:
            refusal = f"broker refused the connection: {rc} ({rc.value:#x})"
            if refusal != self._last_refused_rc:  # one line per reason, not per retry
                log.error(
                    "%s:%s %s; retrying with back-off: check [mqtt] username and password_file",
                    self.mqtt.host,
                    self.mqtt.port,
                    refusal,
                )
            with self._lock:
                self._last_refused_rc = refusal
                self.last_refusal, self.refused_at = refusal, now
                self.connect_refusals += 1
                self._is_state_dirty = True
                self._lock.notify_all()
            if self.mqtt.username:
                try:
                    client.username_pw_set(self.mqtt.username, self._password())
                except ConfigError as err:
                    log.error("%s", err)
            self._tell(False)
            return
        with self._lock:
            self.is_connected = True
            self._last_refused_rc = None
            self.connected_at = now
            self._is_state_dirty = True
            # Unacknowledged publishes stay in paho's queue and are resent by it with their
            # mids: _inflight stays as it is.
            self._retained_due = True
            self._lock.notify_all()
        log.info("connected to the broker %s:%s", self.mqtt.host, self.mqtt.port)
        self._tell(True)
        self._wake.set()

    def _on_connect_fail(self, *_args: Any) -> None:
        self._tell(False)

    def _on_disconnect(self, *_args: Any) -> None:
        with self._lock:
            was_connected, self.is_connected = self.is_connected, False
            self._lock.notify_all()
            if was_connected:
                self.disconnected_at = reporting.iso_utc(self.clock.now_utc())
                self._is_state_dirty = True
        if self._stop.is_set():
            return  # our own disconnect at a clean stop: the broker is not the problem
        if was_connected:
            log.warning("lost the broker %s:%s; reconnecting", self.mqtt.host, self.mqtt.port)
        self._tell(False)
        self._wake.set()

    def _tell(self, is_up: bool) -> None:
        for listener in self.on_connectivity:
            try:
                listener(is_up)
            except Exception:
                log.exception("a connectivity listener failed")

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._lock:
            row_id = self._inflight.pop(mid, None)
            if row_id is None:
                if mid in self._retained_mids:
                    self._retained_mids.discard(mid)
                else:
                    self._early[mid] = (
                        rc  # acked before _send_more registered its mid (or retained)
                    )
                if rc.is_failure and self.refused is None:
                    # A refused retained topic means the ACL refuses this dock: say so once.
                    self._refuse(f"broker refused a publish: {rc} ({rc.value:#x})")
                return
        self._acknowledged(row_id, rc)

    def _acknowledged(self, row_id: int, rc: Any) -> None:
        moved = False
        with self._lock:
            if rc.is_failure:
                if self.refused is None:
                    self._refuse(f"broker refused journal row {row_id}: {rc} ({rc.value:#x})")
                return
            self._acked.add(row_id)
            while self.cursor + 1 in self._acked:
                self._acked.discard(self.cursor + 1)
                self.cursor += 1
                moved = True
            if moved:
                self._lock.notify_all()
            is_refill_due = self._window - len(self._inflight) >= self._low_water
        if moved and is_refill_due:
            self._wake.set()  # the cursor file is written by the publisher's thread, throttled

    def _refuse(self, refusal: str) -> None:
        """Called holding the lock: stop advancing, log once, keep it for `dock report status`."""
        self.refused = self.last_refusal = refusal
        self.refused_at = reporting.iso_utc(self.clock.now_utc())
        self._is_state_dirty = True
        self._lock.notify_all()
        log.error("%s; the publisher stops here: check the broker's ACL", refusal)

    def save_cursor(self, *, is_forced: bool = False) -> None:
        """Write the cursor and state if they changed, at most every CURSOR_SAVE_S."""
        now_s = self.clock.monotonic_s()
        with self._lock:
            cursor, dirty = self.cursor, self._is_state_dirty
            state = ReportState(
                cursor, self.connected_at, self.disconnected_at, self.last_refusal, self.refused_at
            ).as_state()
        if cursor == self._saved_cursor and not dirty:
            return
        if not is_forced and now_s - self._saved_at_s < CURSOR_SAVE_S:
            return
        self.cursor_file.save(cursor, dict(state))
        with self._lock:
            self._is_state_dirty = False
        self._saved_cursor, self._saved_at_s = cursor, now_s

    # -- retained topics ---------------------------------------------------------------------

    def _publish_retained(self) -> None:
        """Availability, status and every bay's state, retained (on connect, on a bay's
        change, every status_interval_s)."""
        messages = [
            (reporting.availability_topic(self.prefix, self.dock_id), b"online"),
            (reporting.status_topic(self.prefix, self.dock_id), reporting.encode(self.status())),
        ]
        for doc in self.bay_states():
            topic = reporting.bay_state_topic(self.prefix, self.dock_id, int(doc["bay"]))
            messages.append((topic, reporting.encode(doc)))
        for topic, payload in messages:
            info = self.client.publish(topic, payload, 1, True)
            with self._lock:
                if self._early.pop(info.mid, None) is None:
                    self._retained_mids.add(info.mid)

    def status(self) -> dict[str, Any]:
        with self.db.transaction() as session:
            size = session.execute(select(func.count()).select_from(JournalRow)).scalar_one()
            head = session.execute(select(JournalRow.hash).order_by(JournalRow.id.desc()).limit(1))
            head_hash = head.scalar() or ""
            bays = [
                int(n) for n in session.execute(select(Bay.number).order_by(Bay.number)).scalars()
            ]
            last_id = session.execute(select(func.max(JournalRow.id))).scalar() or 0
        import shutil

        try:
            free: int | None = shutil.disk_usage(self.settings.dock.data_dir).free
        except OSError:
            free = None
        return {
            "schema": reporting.SCHEMA_VERSION,
            "kind": "status",
            "dock": self.dock_id,
            "at": reporting.iso_utc(self.clock.now_utc()),
            "journal_size": int(size),
            "head_hash": head_hash,
            "bays": bays,
            "backlog": max(0, int(last_id) - self.cursor),
            "disk_free_bytes": free,
            "version": VERSION,
        }

    def bay_states(self) -> list[dict[str, Any]]:
        """Every bay's retained state, its `light` the pattern dock.lights gives it."""
        while True:
            self._lights_cursor, count = read_into(self.db, self._lights_cursor, self._lights)
            if not count:
                break
        with self.db.transaction() as session:
            bays = list(session.execute(select(Bay).order_by(Bay.number)).scalars())
            return [
                {
                    "schema": reporting.SCHEMA_VERSION,
                    "kind": "bay_state",
                    "dock": self.dock_id,
                    "bay": bay.number,
                    "at": reporting.iso_utc(bay.updated_at),
                    "state": str(bay.state),
                    "device": bay.device_serial,
                    "reason": bay.reason or None,
                    "light": pattern_for(self._lights.get(bay.number, BayLight())).name,
                }
                for bay in bays
                if 1 <= bay.number <= 16
            ]

    # -- the loop ----------------------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.mqtt.session_expiry_s
        self.client.connect_async(
            self.mqtt.host,
            self.mqtt.port,
            keepalive=self.mqtt.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()
        if self.db.bus is not None:
            self._unsubscribe = self.db.bus.subscribe(self._heard)
        self._thread = threading.Thread(target=self._run, name="report-publisher", daemon=True)
        self._thread.start()

    def _heard(self, happened: Event) -> None:
        if isinstance(happened, BayStateChanged):
            self._retained_due = True  # a bay changed: its state and the status, now
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(CURSOR_SAVE_S if self.cursor != self._saved_cursor else 1.0)
            self._wake.clear()
            try:
                now_s = self.clock.monotonic_s()
                if now_s >= self._next_checkpoint_s:
                    self.checkpoint()
                if self.is_connected and (self._retained_due or now_s >= self._next_status_s):
                    self._retained_due = False
                    self._next_status_s = now_s + self.mqtt.status_interval_s
                    self._publish_retained()
                self._send_more()
                self.save_cursor()
            except Exception:
                log.exception("report publisher pass failed; trying again")

    def _send_more(self) -> None:
        """Publish rows after the last one sent while the window has room.

        Rows are read READ_AHEAD at a time and encoded once into self._ahead. paho keeps
        `max_inflight` of them unacknowledged on the wire and queues the rest of the window,
        sending the next one from its own thread as each PUBACK comes; this thread refills
        the window by halves, not once per ack.
        """
        while not self._stop.is_set():
            with self._lock:
                room = self._window - len(self._inflight)
                if not self.is_connected or self.refused or room < self._low_water:
                    return
            if not self._ahead:
                with self.db.transaction() as session:
                    entries = journal.read_after(session, self._sent_up_to, READ_AHEAD)
                self._ahead.extend(
                    (
                        e.id,
                        reporting.journal_topic(self.prefix, self.dock_id, e.type),
                        reporting.encode(reporting.row_message(self.dock_id, e)),
                    )
                    for e in entries
                )
                if not self._ahead:
                    return
            while room > 0 and self._ahead:
                row_id, topic, payload = self._ahead.popleft()
                # Never call paho holding our lock: its network thread holds its own lock
                # when it calls on_publish, which takes ours.
                info = self.client.publish(topic, payload, qos=1)
                with self._lock:
                    early = self._early.pop(info.mid, None)
                    if early is None:
                        self._inflight[info.mid] = row_id
                    self._sent_up_to = row_id
                if early is not None:
                    self._acknowledged(row_id, early)
                room -= 1

    def checkpoint(self) -> None:
        """Journal a signed checkpoint now (published like any row)."""
        with self.db.transaction() as session:
            signing.append_checkpoint(session, self.key, self.dock_id, self.clock)
        self._next_checkpoint_s = self.clock.monotonic_s() + 60 * self.mqtt.checkpoint_minutes
        self._wake.set()

    def backlog(self) -> int:
        with self.db.transaction() as session:
            last_id = session.execute(select(func.max(JournalRow.id))).scalar() or 0
        return max(0, int(last_id) - self.cursor)

    def wait_until(self, rule: Callable[[Publisher], bool], timeout_s: float) -> bool:
        """True once rule(self) holds (checked after each ack, connect, refusal)."""
        with self._lock:
            return self._lock.wait_for(lambda: rule(self), timeout_s)

    def wait_until_drained(self, timeout_s: float) -> bool:
        """True once every row journaled so far is acknowledged."""
        with self.db.transaction() as session:
            target = int(session.execute(select(func.max(JournalRow.id))).scalar() or 0)
        self._wake.set()
        with self._lock:
            return self._lock.wait_for(lambda: self.cursor >= target, timeout_s)

    def stop(self, *, drain_timeout_s: float = 5.0) -> None:
        """Clean stop: a last checkpoint, drain what we can, `stopped`, disconnect."""
        if self._thread is None:
            return
        try:
            self.checkpoint()
            if self.is_connected and self.refused is None:  # no broker: the backlog waits
                self.wait_until_drained(drain_timeout_s)
        finally:
            self._stop.set()  # the loop ends first: no retained `online` after `stopped`
            self._wake.set()
            # A pass stuck in a database or paho call must not hold the dock's stop: the
            # thread is a daemon, its cursor is saved below, and the next start resends.
            self._thread.join(timeout=drain_timeout_s + 10.0)
            if self._thread.is_alive():
                log.error("report publisher did not stop in time; stopping without it")
            self._thread = None
            if self._unsubscribe is not None:
                self._unsubscribe()
            if self.is_connected:
                info = self.client.publish(
                    reporting.availability_topic(self.prefix, self.dock_id), "stopped", 1, True
                )
                # Its PUBACK comes after every earlier one, so once it is read no PUBACK is
                # left unread on the socket: closing it with one unread makes the kernel reset
                # the connection, the broker never reads the DISCONNECT and sends the last
                # will, `offline`, over `stopped`. Busy cores: give `stopped` time.
                info.wait_for_publish(max(drain_timeout_s, 15.0))
            self.client.disconnect()
            self.client.loop_stop()
            self.save_cursor(is_forced=True)


def _is_state(state: dict[str, Any]) -> bool:
    return set(state) <= set(ReportState().as_state())
