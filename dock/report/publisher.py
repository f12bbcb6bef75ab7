"""The MQTT publisher: every journal row, in order, to the registry, losing nothing.

A durable journal reader (its cursor in data_dir/report.cursor): rows after the cursor are
published at QoS 1, at most `max_inflight` unacknowledged. The cursor moves only when the
broker's PUBACK says a reason code under 0x80, and only over contiguous ids, so a broker down
for hours, a restart or a power cut republish what was not acknowledged and skip nothing.
A refusal (0x87 not authorized: the ACL) is logged once and stops the cursor for good; the
return code of publish() is never trusted (a publish while disconnected is still queued).
Runs on its own thread, woken by the bus; never inside a bay's transaction.
"""

from __future__ import annotations

import logging
import ssl
import threading
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
from dock.events import Event
from dock.journal_reader import CursorFile
from dock.report import signing
from firmware_bridge import reporting

log = logging.getLogger(__name__)
CURSOR_NAME = "report.cursor"
VERSION = "1"


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
        self._lock = threading.Condition()
        self._inflight: dict[int, int] = {}  # mid -> row id
        self._early: dict[int, Any] = {}  # mid -> reason code, acked before it was registered
        self._acked: set[int] = set()  # acknowledged ids above the cursor
        self._sent_up_to = self.cursor
        self.refused: str | None = None
        self.is_connected = False
        self.last_ack_at: str | None = None
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
            password = None
            if self.mqtt.password_file:
                password = Path(self.mqtt.password_file).read_text().splitlines()[0]
            c.username_pw_set(self.mqtt.username, password)
        if self.mqtt.tls_ca_file:
            c.tls_set(
                ca_certs=self.mqtt.tls_ca_file,
                certfile=self.mqtt.tls_cert_file or None,
                keyfile=self.mqtt.tls_key_file or None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        c.will_set(reporting.availability_topic(self.prefix, self.dock_id), "offline", 1, True)
        c.reconnect_delay_set(self.mqtt.reconnect_min_s, self.mqtt.reconnect_max_s)
        c.max_inflight_messages_set(self.mqtt.max_inflight)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        return c

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error(
                "broker %s:%s refused the dock (%s): check [mqtt] username and password_file",
                self.mqtt.host,
                self.mqtt.port,
                rc,
            )
            return
        with self._lock:
            self.is_connected = True
            # Whatever was in flight is resent by paho's session or by us: start over at the cursor.
            self._inflight.clear()
            self._early.clear()
            self._acked.clear()
            self._sent_up_to = self.cursor
        self._publish_retained()
        self._wake.set()

    def _on_disconnect(self, *_args: Any) -> None:
        with self._lock:
            self.is_connected = False

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._lock:
            row_id = self._inflight.pop(mid, None)
            if row_id is None:
                self._early[mid] = rc  # acked before _send_more registered its mid (or retained)
                if rc.is_failure and self.refused is None:
                    # A refused retained topic means the ACL refuses this dock: say so once.
                    self.refused = f"broker refused a publish: {rc} ({rc.value:#x})"
                    log.error("%s; the publisher stops here: check the broker's ACL", self.refused)
                return
        self._acknowledged(row_id, rc)

    def _acknowledged(self, row_id: int, rc: Any) -> None:
        moved = False
        with self._lock:
            if rc.is_failure:
                if self.refused is None:
                    self.refused = f"broker refused journal row {row_id}: {rc} ({rc.value:#x})"
                    log.error("%s; the publisher stops here: check the broker's ACL", self.refused)
                return
            self._acked.add(row_id)
            while self.cursor + 1 in self._acked:
                self._acked.discard(self.cursor + 1)
                self.cursor += 1
                moved = True
            if moved:
                self.last_ack_at = reporting.iso_utc(self.clock.now_utc())
                self._lock.notify_all()
        if moved:
            self.cursor_file.save(self.cursor, {})
            self._wake.set()

    # -- retained topics ---------------------------------------------------------------------

    def _publish_retained(self) -> None:
        c = self.client
        c.publish(reporting.availability_topic(self.prefix, self.dock_id), "online", 1, True)
        c.publish(
            reporting.status_topic(self.prefix, self.dock_id),
            reporting.encode(self.status()),
            1,
            True,
        )
        for doc in self.bay_states():
            c.publish(
                reporting.bay_state_topic(self.prefix, self.dock_id, int(doc["bay"])),
                reporting.encode(doc),
                1,
                True,
            )

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
                    "light": None,
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
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                if self.clock.monotonic_s() >= self._next_checkpoint_s:
                    self.checkpoint()
                self._send_more()
            except Exception:
                log.exception("report publisher pass failed; trying again")

    def _send_more(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                room = self.mqtt.max_inflight - len(self._inflight)
                if not self.is_connected or self.refused or room <= 0:
                    return
                after = self._sent_up_to
            with self.db.transaction() as session:
                entries = journal.read_after(session, after, min(room, 500))
            if not entries:
                return
            for entry in entries:
                payload = reporting.encode(reporting.row_message(self.dock_id, entry))
                topic = reporting.journal_topic(self.prefix, self.dock_id, entry.type)
                with self._lock:
                    if not self.is_connected or self._sent_up_to != after:
                        return  # reconnected meanwhile: start again from the cursor
                # Never call paho holding our lock: its network thread holds its own lock
                # when it calls on_publish, which takes ours.
                info = self.client.publish(topic, payload, qos=1)
                with self._lock:
                    early = self._early.pop(info.mid, None)
                    if early is None:
                        self._inflight[info.mid] = entry.id
                    self._sent_up_to = after = entry.id
                if early is not None:
                    self._acknowledged(entry.id, early)

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
            if self.is_connected:
                info = self.client.publish(
                    reporting.availability_topic(self.prefix, self.dock_id), "stopped", 1, True
                )
                info.wait_for_publish(drain_timeout_s)
        finally:
            self._stop.set()
            self._wake.set()
            self._thread.join()
            self._thread = None
            if self._unsubscribe is not None:
                self._unsubscribe()
            self.client.disconnect()
            self.client.loop_stop()
