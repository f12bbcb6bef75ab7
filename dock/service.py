"""The process that runs the bays (`dock serve`).

Concurrency design: threads, one per bay, and one for hot-plug. A bay's thread owns its
state machine and its recorder link, and works through that bay's inbox in order, so a
bay never races itself; bays share only the database, whose transactions serialise them.
Nothing here uses asyncio: pyserial, SQLite and hashing all block, and threads say so.

A recorder pulled out mid-conversation: the hot-plug thread closes that bay's link, the
bay's thread sees its request fail (FAULT, journaled), then takes the departure (EMPTY).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from dock.bays.docking import DockingConversation, DockingResult, undock
from dock.bays.machine import BayMachine
from dock.bays.states import BayState, Trigger
from dock.clock import Clock
from dock.config import Settings
from dock.db.database import Database
from dock.errors import DockError
from dock.offload.ingest import Offloader
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import LinkError
from hw.clock_sync import ClockSync
from hw.hotplug import HotplugSource, RecorderAttached, RecorderDetached

log = logging.getLogger(__name__)

POLL_S = 0.1


@dataclass(frozen=True)
class _Recheck:
    pass


class BayWorker:
    """One bay's thread and inbox."""

    def __init__(
        self,
        machine: BayMachine,
        *,
        settings: Settings,
        clock: Clock,
        clock_sync: ClockSync,
        offloader: Offloader | None = None,
        on_result: Callable[[int, DockingResult], None] | None = None,
    ) -> None:
        self.machine = machine
        self.offloader = offloader
        self.settings = settings
        self.clock = clock
        self.clock_sync = clock_sync
        self.on_result = on_result
        self.inbox: queue.Queue[RecorderAttached | RecorderDetached | _Recheck | None] = (
            queue.Queue()
        )
        self._client: RecorderClient | None = None
        self._usb_port_path = ""  # of the recorder docked now
        self._client_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"bay-{machine.number}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10) -> None:
        self.inbox.put(None)
        self._thread.join(timeout_s)

    def attached(self, event: RecorderAttached) -> None:
        self.inbox.put(event)

    def detached(self, event: RecorderDetached) -> None:
        # Break a conversation in progress now rather than after its timeouts.
        with self._client_lock:
            if self._client is not None:
                self._client.close()
        self.inbox.put(event)

    def recheck(self) -> None:
        self.inbox.put(_Recheck())

    def _run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                break
            try:
                self._handle(item)
            except DockError as err:
                log.error("bay %d: %s", self.machine.number, err)
            except Exception as err:
                log.exception("bay %d: unexpected failure (a dock bug)", self.machine.number)
                self._fault(f"dock error: {type(err).__name__}; see the service log")
        self._close_client()

    def _fault(self, reason: str) -> None:
        """Leave the bay in a defined state after a bug: FAULT, until the recorder leaves."""
        if self.machine.state in (BayState.EMPTY, BayState.FAULT):
            return
        try:
            self.machine.move(Trigger.LINK_LOST, reason=reason)
        except Exception:
            log.exception("bay %d: could not record the fault", self.machine.number)

    def _handle(self, item: RecorderAttached | RecorderDetached | _Recheck) -> None:
        if isinstance(item, RecorderDetached):
            self._close_client()
            undock(self.machine)
            return
        if isinstance(item, RecorderAttached):
            if self.machine.state is not BayState.EMPTY:
                undock(self.machine)  # a departure we never heard of
            self._close_client()
            try:
                client = RecorderClient.open(
                    item.serial_port,
                    timeout_s=self.settings.link.timeout_s,
                    retries=self.settings.link.retries,
                )
            except LinkError as err:
                log.error("bay %d: cannot open %s: %s", self.machine.number, item.serial_port, err)
                return
            with self._client_lock:
                self._client = client
            self._usb_port_path = item.usb_port_path
            result = self._conversation(client).dock()
        else:
            if self._client is None or self.machine.state is BayState.EMPTY:
                return
            self.machine.move(Trigger.RECHECK, reason="check asked for")
            result = self._conversation(self._client).identify_and_check()
        if self.on_result is not None:
            self.on_result(self.machine.number, result)

    def _conversation(self, client: RecorderClient) -> DockingConversation:
        return DockingConversation(
            self.machine,
            client,
            self._usb_port_path,
            clock=self.clock,
            clock_sync=self.clock_sync,
            check=self.settings.check,
            offloader=self.offloader,
        )

    def _close_client(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class DockService:
    """Hot-plug in, bay workers out. `run` returns when `stop` is set."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        hotplug: HotplugSource,
        *,
        clock: Clock,
        clock_sync: ClockSync,
        offloader: Offloader | None = None,
        on_result: Callable[[int, DockingResult], None] | None = None,
    ) -> None:
        self.settings = settings
        self.hotplug = hotplug
        self.bays: dict[int, BayWorker] = {}
        for number in range(1, settings.bays.count + 1):
            machine = BayMachine(number, db, clock)
            if machine.state is not BayState.EMPTY:
                # The dock stopped with a recorder in this bay; hot-plug reports the ones
                # still there as new arrivals.
                undock(machine)
            self.bays[number] = BayWorker(
                machine,
                settings=settings,
                clock=clock,
                clock_sync=clock_sync,
                offloader=offloader,
                on_result=on_result,
            )

    def bay_for(self, usb_port_path: str) -> BayWorker | None:
        number = self.settings.bays.usb_port_paths.get(usb_port_path)
        return self.bays.get(number) if number is not None else None

    def run(self, stop: threading.Event) -> None:
        for worker in self.bays.values():
            worker.start()
        try:
            while not stop.is_set():
                event = self.hotplug.next_event(POLL_S)
                if event is None:
                    continue
                target = self.bay_for(event.usb_port_path)
                if target is None:
                    log.warning(
                        "a recorder on USB port %s is not in any configured bay: "
                        "add it to [bays] usb_port_paths",
                        event.usb_port_path,
                    )
                elif isinstance(event, RecorderAttached):
                    target.attached(event)
                else:
                    target.detached(event)
        finally:
            for worker in self.bays.values():
                worker.stop()
            self.hotplug.close()
