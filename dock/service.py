"""The process that runs the bays (`dock serve`).

Concurrency design: threads, one per bay, and one for hot-plug. A bay's thread owns its
state machine and its recorder link, and works through that bay's inbox in order, so a
bay never races itself; bays share only the database, whose transactions serialise them.
Nothing here uses asyncio: pyserial, SQLite and hashing all block, and threads say so.

A recorder pulled out mid-conversation: the hot-plug thread closes that bay's link, the
bay's thread sees its request fail (FAULT, journaled), then takes the departure (EMPTY).

Nothing wakes on a timer: the hot-plug loop blocks until an event or `stop`, each bay
blocks on its inbox, so an idle dock sleeps. `on_wake` (tests) is told each time the
hot-plug loop wakes.

A restart is not a departure. A bay the database says was occupied keeps its state until
the start-up scan (hw.hotplug.StartupScanDone) says whether its recorder is still there:
the same recorder (same serial) resumes with a new check and no ledger rows (it never left
its officer's dock); a different one, or none, means the first left while the dock was
stopped, and only then is it undocked (a READY one is issued, as when it is taken out).

A person's request (dock.control: a two-person offload's confirmation, a reflash, the
technician's credential) is an `_Ask` in the bay's inbox: it runs in the bay's thread between
its other steps, over the same link and conversation, and answers the asker as soon as the
request is accepted or refused, before any long part (the offload, the transfer) runs.
A two-person offload's wait is not a step in hand: the conversation is kept, the bay thread
goes back to its inbox, and the second confirmation (an `_Ask`) takes the offload on.

Health (for systemd's watchdog, dock.notify): a bay is stuck when its thread has died or has
been on one step for STUCK_AFTER_S without a sign of life (the step starting, or bytes of
its own offload copied). A step that has copied nothing yet may be queued for an offload
slot, so it counts as alive while some bay's offload moves bytes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dock.bays.docking import DockingConversation, DockingResult, undock
from dock.bays.machine import BayMachine
from dock.bays.states import CHECKED, BayState, Trigger
from dock.clock import Clock
from dock.config import Settings
from dock.db.database import Database
from dock.errors import DockError
from dock.i18n import t
from dock.offload.ingest import Offloader
from dock.people import offload_confirmations
from dock.people.roles import Actor, Role, require
from dock.technician import TechnicianDesk
from firmware_bridge.client import RecorderClient
from firmware_bridge.errors import LinkError, RecorderError
from firmware_bridge.image import Image
from hw.clock_sync import ClockSync
from hw.hotplug import HotplugSource, RecorderAttached, RecorderDetached, StartupScanDone

if TYPE_CHECKING:
    from dock.reflash.session import ReflashOutcome

log = logging.getLogger(__name__)

RESUMED = "the dock restarted with this recorder in its bay"
STUCK_AFTER_S = 300.0  # far beyond a conversation's link timeouts; an offload shows bytes


ASK_QUEUED_S = 30.0  # how long a person's request may wait behind a bay's step in hand


class BayBusy(DockError):
    """The bay's thread did not take a person's request in time: it was not carried out."""


@dataclass(frozen=True)
class _Recheck:
    pass


@dataclass(eq=False)
class _Ask:
    """A person's request, run in the bay's thread; `answer` is delivered once, at most.

    Cancelled when the asker stopped waiting before it started, so nobody is surprised
    later by a confirmation or a reflash they were told did not happen."""

    run: Callable[[_Ask], None]
    replies: queue.Queue[Any] = field(default_factory=lambda: queue.Queue(maxsize=1))
    is_started: bool = False
    is_cancelled: bool = False
    is_answered: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> bool:
        with self.lock:
            self.is_started = not self.is_cancelled
            return self.is_started

    def answer(self, value: Any) -> None:
        with self.lock:
            if not self.is_answered:
                self.is_answered = True
                self.replies.put(value)


_Item = RecorderAttached | RecorderDetached | StartupScanDone | _Recheck | _Ask


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
        technicians: TechnicianDesk | None = None,
    ) -> None:
        self.machine = machine
        self.technicians = technicians
        self.offloader = offloader
        self.settings = settings
        self.clock = clock
        self.clock_sync = clock_sync
        self.on_result = on_result
        self.db = machine.db
        self.inbox: queue.Queue[_Item | None] = queue.Queue()
        # Two-person offload: the conversation whose offload waits for two staff.
        self.waiting: DockingConversation | None = None
        self._last_conversation: DockingConversation | None = None
        # Occupied when the dock started: wait for the start-up scan before undocking it.
        self._left_by_last_run = machine.state is not BayState.EMPTY
        self._client: RecorderClient | None = None
        self._usb_port_path = ""  # of the recorder docked now
        self._client_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"bay-{machine.number}", daemon=True)
        self.busy_since: float | None = None  # monotonic start of the step in hand, if any
        self.last_sign_of_life = 0.0  # monotonic: the step starting or its own bytes copied
        self.has_copied_in_step = False

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

    def scan_done(self, event: StartupScanDone) -> None:
        self.inbox.put(event)

    def ask(self, run: Callable[[_Ask], None], *, queued_s: float = ASK_QUEUED_S) -> Any:
        """Run `run` in the bay's thread; its answer, or its DockError raised here.

        BayBusy when the thread has not taken it within queued_s (it is then dropped)."""
        item = _Ask(run)
        self.inbox.put(item)
        try:
            value = item.replies.get(timeout=queued_s)
        except queue.Empty:
            with item.lock:
                item.is_cancelled = not item.is_started
            if item.is_cancelled:
                raise BayBusy(
                    t("bay {bay} is busy with another step: nothing was done; try again in a "
                      "minute", bay=self.number)
                ) from None  # fmt: skip
            value = item.replies.get()  # it started: its answer comes before its long part
        if isinstance(value, DockError):
            raise value
        return value

    def confirm_offload(self, actor: Actor) -> list[str]:
        """One person's confirmation of the waiting offload; who has confirmed so far."""
        return self.ask(lambda item: self._confirm(item, actor))  # type: ignore[no-any-return]

    def reflash(self, image: Image, technician: Actor) -> ReflashOutcome:
        """A technician's update of the docked recorder, over the bay's own link; the outcome.

        It runs in the bay's thread, journaled, with REFLASHING on the light; the answer comes
        once the new firmware has confirmed itself or rolled back, and the insertion then goes
        on with identify and check."""
        require(technician, Role.TECHNICIAN)
        return self.ask(  # type: ignore[no-any-return]
            lambda item: self._reflash(item, image, technician)
        )

    def _run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                break
            self.busy_since = self.last_sign_of_life = time.monotonic()
            self.has_copied_in_step = False
            try:
                self._handle(item)
            except DockError as err:
                log.error("bay %d: %s", self.machine.number, err)
            except Exception as err:
                log.exception("bay %d: unexpected failure (a dock bug)", self.machine.number)
                self._fault(f"dock error: {type(err).__name__}; see the service log")
            finally:
                self.busy_since = None
        self._close_client()

    def copied_bytes(self) -> None:
        """Its offload moved bytes: a sign of life for the watchdog."""
        self.last_sign_of_life = time.monotonic()
        self.has_copied_in_step = True

    def problem(self, now: float, stuck_after_s: float, offloads_moving: bool) -> str | None:
        """Why this bay is unhealthy now, or None (see the module docstring)."""
        if self._thread.ident is not None and not self._thread.is_alive():
            return f"bay {self.machine.number}: its thread has ended"
        if self.busy_since is None or now - self.last_sign_of_life <= stuck_after_s:
            return None
        if not self.has_copied_in_step and offloads_moving:
            return None  # may be waiting for an offload slot
        return (
            f"bay {self.machine.number}: stuck for {now - self.last_sign_of_life:.0f} s "
            f"in {self.machine.state}"
        )

    def _fault(self, reason: str) -> None:
        """Leave the bay in a defined state after a bug: FAULT, until the recorder leaves."""
        self.waiting = None
        if self.machine.state in (BayState.EMPTY, BayState.FAULT):
            return
        try:
            self.machine.move(Trigger.LINK_LOST, reason=reason)
        except Exception:
            log.exception("bay %d: could not record the fault", self.machine.number)

    def _handle(self, item: _Item) -> None:
        left_by_last_run = self._left_by_last_run and not isinstance(item, _Recheck)
        if not isinstance(item, _Recheck):
            self._left_by_last_run = False  # the first word on its recorder settles it
        if isinstance(item, StartupScanDone):
            if left_by_last_run and self.machine.state is not BayState.EMPTY:
                log.info(
                    "bay %d: its recorder left while the dock was stopped", self.machine.number
                )
                self._undock()
            return
        if isinstance(item, _Ask):
            self._asked(item)
            return
        if isinstance(item, RecorderDetached):
            self._close_client()
            self._abandon_wait()
            self._undock()
            return
        if isinstance(item, RecorderAttached):
            self._close_client()
            self._abandon_wait()
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
            if left_by_last_run and self._is_same_recorder(client):
                result = self._resume(client)
            else:
                if self.machine.state is not BayState.EMPTY:
                    self._undock()  # a departure we never heard of
                result = self._conversation(client).dock()
        else:
            if self._client is None or self.machine.state is BayState.EMPTY:
                return
            if self.waiting is not None:
                log.info("bay %d: no recheck while the offload waits for two staff", self.number)
                return
            self.machine.move(Trigger.RECHECK, reason="check asked for")
            result = self._conversation(self._client).identify_and_check()
        self._settled(result)

    @property
    def number(self) -> int:
        return self.machine.number

    def _settled(self, result: DockingResult) -> None:
        """A conversation's step ended: keep it when it waits for two staff, and say so."""
        if result.is_awaiting_staff:
            self.waiting = self._last_conversation
        if self.on_result is not None:
            self.on_result(self.machine.number, result)

    # -- people's requests (dock.control) -----------------------------------------------------

    def _asked(self, item: _Ask) -> None:
        if not item.start():
            return  # its asker was told it did not happen
        try:
            item.run(item)
        except DockError as err:
            if item.is_answered:
                raise  # after the answer: a failure of the bay's step, logged as any other
            item.answer(err)
        finally:
            item.answer(DockError(f"bay {self.number}: the request ended without an answer"))

    def _confirm(self, item: _Ask, actor: Actor) -> None:
        """003 art.21: the second distinct person's confirmation takes the offload on."""
        conversation, serial = self.waiting, self.machine.device
        if conversation is None or serial is None:
            raise DockError(
                t("bay {bay} has no offload waiting for confirmation: nothing to confirm",
                  bay=self.number)
            )  # fmt: skip
        with self.db.transaction() as session:
            names = offload_confirmations.confirm(
                session, actor, self.number, serial, at=self.clock.now_utc()
            )
        if not offload_confirmations.is_confirmed(names):
            item.answer(names)
            return
        with self.db.transaction() as session:
            confirmed_by = offload_confirmations.close_wait(session, self.number, serial)
        item.answer(names)
        self.waiting = None
        self._settled(conversation.offload_confirmed(confirmed_by))

    def _reflash(self, item: _Ask, image: Image, technician: Actor) -> None:
        """A downgrade is not sent here (dock.control refuses one): no approver to pass."""
        from dock import ledger
        from dock.reflash.session import Reflash, ReflashError, TransferBroken

        client, serial = self._client, self.machine.device
        if client is None or serial is None or self.machine.state not in CHECKED:
            raise DockError(
                t("bay {bay} has no checked recorder to reflash: dock one and wait for its "
                  "verdict", bay=self.number)
            )  # fmt: skip
        if self.waiting is not None:
            raise DockError(t("bay {bay} waits for two staff to confirm its offload: confirm "
                              "it first", bay=self.number))  # fmt: skip
        with self.db.transaction() as session:
            key = ledger.paired_key(session, serial)
        if key is None:
            raise DockError(t("recorder {serial} is not paired with this dock: pair it first",
                              serial=serial))  # fmt: skip
        try:
            outcome = Reflash(self.db, self.clock, technician=technician.journal_name).run(
                lambda: contextlib.nullcontext(client),  # type: ignore[arg-type, return-value]
                lambda _serial: key,
                image,
                bay=self.machine,
            )
        except (ReflashError, RecorderError) as err:
            log.warning("bay %d: reflash stopped: %s", self.number, err)
            if self.machine.state is BayState.REFLASHING:
                self._fault(str(err))
            kind = type(err) if isinstance(err, ReflashError) else TransferBroken
            failure = kind(f"bay {self.number}: {err}")
            if self.machine.state is not BayState.IDENTIFYING:
                raise failure from None
            item.answer(failure)  # refused over a working link: the old firmware goes on
        else:
            item.answer(outcome)
        # The firmware answers: this insertion goes on with identify and check.
        self._settled(self._conversation(client).identify_and_check())

    def _undock(self) -> None:
        """The recorder is gone: the bay empties, and its technician mode ends with it."""
        undock(self.machine)
        if self.technicians is not None:
            self.technicians.leave(self.number, "recorder undocked")

    def _abandon_wait(self) -> None:
        """The recorder left while its offload waited: journaled, nothing was offloaded."""
        if self.waiting is None:
            return
        self.waiting = None
        serial = self.machine.device
        if serial is None:
            return
        with self.db.transaction() as session:
            offload_confirmations.abandon_wait(
                session, self.number, serial, at=self.clock.now_utc()
            )

    def _is_same_recorder(self, client: RecorderClient) -> bool:
        """Whether the recorder in the bay says it is the one the database has there.

        Only its claim: the conversation that follows proves its key before any ledger
        change, and a recorder that cannot prove it ends in attention as at any docking."""
        try:
            client.hello()
            return client.identify().device_serial == self.machine.device
        except (RecorderError, DockError) as err:  # a lost link or a refusal alike
            log.warning(
                "bay %d: the recorder did not identify itself: %s", self.machine.number, err
            )
            return False

    def _resume(self, client: RecorderClient) -> DockingResult:
        """Check it again from where the last run left it, without undocking it."""
        if self.machine.state not in (BayState.READY, BayState.ATTENTION, BayState.FAULT):
            # The last run stopped mid-conversation: that conversation was lost.
            self.machine.move(Trigger.LINK_LOST, reason=f"{RESUMED}, mid-{self.machine.state}")
        self.machine.move(Trigger.RECHECK, reason=RESUMED)
        return self._conversation(client).identify_and_check()

    def _conversation(self, client: RecorderClient) -> DockingConversation:
        self._last_conversation = DockingConversation(
            self.machine,
            client,
            self._usb_port_path,
            clock=self.clock,
            clock_sync=self.clock_sync,
            check=self.settings.check,
            offloader=self.offloader,
            awaits_two_staff=self.settings.people.two_person_offload,
        )
        return self._last_conversation

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
        on_wake: Callable[[], None] | None = None,
        stuck_after_s: float = STUCK_AFTER_S,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.hotplug = hotplug
        self.on_wake = on_wake
        self.stuck_after_s = stuck_after_s
        self._last_bytes_at: float | None = None  # monotonic: any bay's offload moving bytes
        self.bays: dict[int, BayWorker] = {}
        self.technicians = TechnicianDesk(db, clock)
        for number in range(1, settings.bays.count + 1):
            # A bay left occupied waits for the start-up scan (see the module docstring).
            machine = BayMachine(number, db, clock)
            self.technicians.add_bay(machine)
            self.bays[number] = BayWorker(
                machine,
                settings=settings,
                clock=clock,
                clock_sync=clock_sync,
                offloader=offloader,
                on_result=on_result,
                technicians=self.technicians,
            )
        if offloader is not None:  # each bay's copied bytes are its sign of life
            shown = offloader.on_bytes

            def on_bytes(bay: int, done: int, total: int) -> None:
                self._last_bytes_at = time.monotonic()
                if bay in self.bays:
                    self.bays[bay].copied_bytes()
                if shown is not None:
                    shown(bay, done, total)

            offloader.on_bytes = on_bytes

    def health(self) -> list[str]:
        """The bays that are stuck or dead now; empty when every bay is well."""
        now = time.monotonic()
        last = self._last_bytes_at
        moving = last is not None and now - last <= self.stuck_after_s
        found = (w.problem(now, self.stuck_after_s, moving) for w in self.bays.values())
        return [problem for problem in found if problem is not None]

    def bay_for(self, usb_port_path: str) -> BayWorker | None:
        number = self.settings.bays.usb_port_paths.get(usb_port_path)
        return self.bays.get(number) if number is not None else None

    def run(self, stop: threading.Event) -> None:
        self.technicians.close_left_open()
        for worker in self.bays.values():
            worker.start()

        # `stop` may be set from anywhere (a signal handler, a test): this thread sleeps on
        # it and wakes the hot-plug loop once, instead of that loop checking on a timer.
        def wake_on_stop() -> None:
            stop.wait()
            self.hotplug.wake()

        waker = threading.Thread(target=wake_on_stop, name="stop-waker", daemon=True)
        waker.start()
        try:
            while not stop.is_set():
                event = self.hotplug.next_event(None)
                if self.on_wake is not None:
                    self.on_wake()
                if event is None:
                    continue
                if isinstance(event, StartupScanDone):
                    for worker in self.bays.values():
                        worker.scan_done(event)
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
            stop.set()  # also when the loop failed: the waker must not outlive the run
            for worker in self.bays.values():
                worker.stop()
            waker.join(5)
            self.hotplug.close()
