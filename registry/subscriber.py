"""The registry's MQTT worker: paho-mqtt 2.x, MQTT v5, a persistent session, and shared rows.

Journal rows come through the v5 SHARED subscription `$share/<group>/P/+/journal/#`, so the
workers of one group split them; the retained `availability`, `status` and bay states are
ordinary subscriptions, because a broker does not deliver retained messages to a shared
subscription (each is an idempotent upsert ordered by its `at`, so every worker may apply
them). paho's network thread only queues each message; one store thread takes whatever has
queued (up to BATCH_MAX) and stores it in one transaction (Ingestor.consume_batch): one
commit per batch instead of one per message is what lets a worker keep up with many docks.
QoS 1 is acknowledged by hand only after that commit (paho's manual_ack), so a worker killed
mid-batch, or a database that is down, gets the messages again, and the unique (dock, row)
drops a second copy.

Mosquitto 2.0 does not keep a SHARED subscription of an offline session across its own
restart: rows a dock publishes after the broker comes back and before a worker of the group
reconnects are acknowledged to the dock and delivered to no one (measured with Debian's
2.0.11). A plain subscription (share_group = "") is restored from the broker's persistence,
so a single worker loses nothing over a broker restart; several workers need a broker that
persists shared subscriptions (EMQX, VerneMQ), or the gap is left for the stale_gap alert.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dock.clock import Clock
from registry import derived
from registry.config import BrokerSettings, RegistrySettings
from registry.ingest import Ingestor

log = logging.getLogger(__name__)
STALE_GAP_CHECK_S = 60.0
BATCH_MAX = 500
DATABASE_RETRY_S = (0.5, 30.0)  # back-off while the database is down


def subscriptions(settings: BrokerSettings) -> list[tuple[str, int]]:
    """share_group "" = one worker on a plain subscription (module docstring: why)."""
    p = settings.topic_prefix
    journal = f"{p}/+/journal/#"
    if settings.share_group:
        journal = f"$share/{settings.share_group}/{journal}"
    return [
        (journal, 1),
        (f"{p}/+/availability", 1),
        (f"{p}/+/status", 1),
        (f"{p}/+/bays/+/state", 1),
    ]


class Subscriber:
    """One worker; `start()` connects in the background, `stop()` disconnects cleanly."""

    def __init__(self, settings: BrokerSettings, ingestor: Ingestor) -> None:
        self.settings = settings
        self.ingestor = ingestor
        self.subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if settings.username:
            password = None
            if settings.password_file:
                password = Path(settings.password_file).read_text(encoding="utf-8").strip()
            client.username_pw_set(settings.username, password)
        if settings.tls:
            context = ssl.create_default_context(cafile=settings.ca_file or None)
            client.tls_set_context(context)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self.client = client
        self._inbox: queue.SimpleQueue[mqtt.MQTTMessage | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._store_thread = threading.Thread(
            target=self._store_loop, name="registry-store", daemon=True
        )

    def start(self) -> None:
        self._store_thread.start()
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.settings.session_expiry_s
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._stopping.set()
        self._inbox.put(None)
        self._store_thread.join(timeout=30)

    def _on_connect(self, client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.warning("the broker refused the registry: %s", reason_code)
            return
        client.subscribe(subscriptions(self.settings))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):  # type: ignore[no-untyped-def]
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.warning("the broker refused a registry subscription: %s", ", ".join(refused))
        else:
            self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        self.subscribed.clear()
        if reason_code.is_failure:
            log.warning("lost the broker (%s); reconnecting with back-off", reason_code)

    def _on_message(self, client, userdata, message):  # type: ignore[no-untyped-def]
        self._inbox.put(message)

    def _store_loop(self) -> None:
        """Store what has queued, then acknowledge it; never acknowledge what is not stored."""
        while not self._stopping.is_set():
            first = self._inbox.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH_MAX:
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._stopping.set()
                    break
                batch.append(more)
            if self._store(batch):
                for message in batch:
                    self.client.ack(message.mid, message.qos)

    def _store(self, batch: list[mqtt.MQTTMessage]) -> bool:
        """True once stored (or refused for good); False if stopped while the database is down."""
        delay, longest = DATABASE_RETRY_S
        said = False
        while True:
            try:
                self.ingestor.consume_batch([(m.topic, bytes(m.payload)) for m in batch])
                return True
            except OperationalError as error:
                if not said:
                    log.warning(
                        "the registry's database is unreachable (%s); holding %d message(s) "
                        "unacknowledged and retrying",
                        str(error).splitlines()[0],
                        len(batch),
                    )
                    said = True
                if self._stopping.wait(delay):
                    return False
                delay = min(longest, delay * 2)
            except Exception:  # a bug: log it, keep the worker alive (as consume refusals are)
                log.exception("could not store %d message(s)", len(batch))
                return True


def run_worker(
    settings: RegistrySettings,
    sessions: sessionmaker[Session],
    clock: Clock,
    stop: threading.Event,
    *,
    check_every_s: float = STALE_GAP_CHECK_S,
) -> None:
    """One ingest worker until `stop` is set; between messages it looks for stale chain gaps.

    The gap check runs on this thread, not paho's, so a slow check never delays an
    acknowledgement; raise_alert keeps one alert per (dock, row), so a gap alerts once.
    """
    ingestor = Ingestor(
        sessions=sessions,
        prefix=settings.broker.topic_prefix,
        clock=clock,
        public_keys=settings.dock_keys,
        max_payload_bytes=settings.max_payload_bytes,
    )
    worker = Subscriber(settings.broker, ingestor)
    worker.start()
    max_gap = timedelta(minutes=settings.stale_gap_minutes)
    try:
        while not stop.wait(check_every_s):
            check_gaps(sessions, clock, max_gap)
    finally:
        worker.stop()


def check_gaps(sessions: sessionmaker[Session], clock: Clock, max_gap: timedelta) -> list[str]:
    """One stale-gap pass in its own transaction; a database outage is logged, not raised."""
    try:
        with sessions.begin() as session:
            return derived.check_stale_gaps(session, clock.now_utc(), max_gap)
    except SQLAlchemyError as error:  # another worker raised the same alert, or no database
        log.warning("stale-gap check skipped: %s", str(error).splitlines()[0])
        return []
