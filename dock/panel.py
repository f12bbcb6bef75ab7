"""The bay panel in the running service: lights that follow the journal, buttons for notes
and technician mode.

The lights are a LightsFollower on its own thread, woken by the bus after each commit and
reading the journal from its own cursor, so no bay waits for a pin. A bay's button drives a
NotePrompt once the docking has journaled that the bay's officer owes voice notes
(VoiceNotesNeeded): a note kept is stored as evidence and marks its interruption explained
in one transaction with its journal row (dock.interruptions.records). A long press of a
bay's button that no note prompt takes (there it skips a note), or of the technician button
for every checked bay, asks for technician mode (dock.technician): the bay waits for a
technician's sign-in, and this panel's thread journals the fallback when none comes in time.

On the Pi the pins come from [lights] through gpiozero's LGPIOFactory (imported only there);
`dock serve --simulate` uses gpiozero's MockFactory and the fake microphone, so the whole
path runs without hardware. A GPIO that fails is logged and the bays go on without it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from dock import journal
from dock.bays.states import BayState
from dock.clock import Clock
from dock.config import Settings
from dock.db.database import Database
from dock.errors import DockError
from dock.events import (
    BayStateChanged,
    Event,
    InterruptionExplained,
    TechnicianModeAsked,
    VoiceNoteRefused,
    VoiceNotesNeeded,
)
from dock.interruptions.note_prompt import NotePrompt
from dock.interruptions.records import explain_by_note, keep_note
from dock.interruptions.voice_note import NoteLimits
from dock.lights import LightsFollower
from dock.offload.store import EvidenceStore
from dock.technician import TechnicianDesk
from hw import gpio
from hw.gpio import ButtonId, Buttons, LightPins, Lights, Press
from hw.microphone import Statement, StatementRecorder

log = logging.getLogger(__name__)

ACTOR = "bay-button"
TICK_S = 0.2
SIMULATED_NOTE = "设备故障，录像中断，现已恢复录像"  # what the fake microphone says


class Panel:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        clock: Clock,
        lights: Lights,
        buttons: Buttons | None,
        make_recorder: Callable[[], StatementRecorder] | None,
        store: EvidenceStore,
        technicians: TechnicianDesk | None = None,
    ) -> None:
        self.settings, self.db, self.clock, self.store = settings, db, clock, store
        self.technicians = technicians
        self.lights, self.buttons, self.make_recorder = lights, buttons, make_recorder
        numbers = range(1, settings.bays.count + 1)
        self.follower = LightsFollower(db, lights, settings.dock.data_dir, bays=numbers)
        self.workdir = settings.dock.data_dir / "notes-tmp"
        self.prompts: dict[int, NotePrompt] = {}
        self._lock = threading.RLock()
        # The bus calls listeners in the committing thread (a bay's): they only queue, so a
        # slow microphone or a stuck pin never holds a bay.
        self._inbox: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.note_wakeups = 0  # how often the note thread woke: an idle dock's stays at 0
        self._threads: list[threading.Thread] = []
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        assert self.db.bus is not None
        self._unsubscribe.append(self.db.bus.subscribe(self.follower.wake))
        self._unsubscribe.append(self.db.bus.subscribe(self._heard))
        if self.buttons is not None:
            self.buttons.on_press(self._pressed)
        for name, target in (("lights", self._follow), ("note-ticks", self._tick)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._inbox.put(None)
        self.follower.wake()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for thread in self._threads:
            thread.join(5)
        for device in (self.buttons, self.lights):
            if device is not None:
                device.close()

    def _follow(self) -> None:
        self.follower.run(self._stop)

    def _tick(self) -> None:
        """Wait for the bus's news; time notes and technicians' sign-ins only while a bay
        waits for one, so the panel of an idle dock sleeps (None in the inbox is stop's
        wake-up)."""
        while not self._stop.is_set():
            try:
                happened = self._inbox.get(timeout=TICK_S if self._is_timing() else None)
            except queue.Empty:
                happened = None
            self.note_wakeups += 1
            with self._lock:
                while happened is not None:
                    self._handle(happened)
                    happened = None if self._inbox.empty() else self._inbox.get()
                for prompt in list(self.prompts.values()):
                    self._guarded(prompt, prompt.tick)
                if self.technicians is not None:
                    self._guarded_call(self.technicians.expire, self.clock.monotonic_s())

    def _is_timing(self) -> bool:
        waits = self.technicians is not None and self.technicians.is_awaiting()
        return bool(self.prompts) or waits

    # -- notes --------------------------------------------------------------------------------

    def _heard(self, happened: Event) -> None:
        """A bus listener: queue what the prompts follow, for the panel's own thread (a bay
        now waiting for a technician wakes it to time the wait)."""
        followed = BayStateChanged | VoiceNotesNeeded | TechnicianModeAsked
        if happened.bay is not None and isinstance(happened, followed):
            self._inbox.put(happened)

    def _handle(self, happened: Event) -> None:
        """Start a prompt when a docking asks, drop it when the bay empties or is done."""
        bay = happened.bay
        assert bay is not None
        if isinstance(happened, BayStateChanged) and happened.to_state == BayState.EMPTY:
            self.prompts.pop(bay, None)
        elif isinstance(happened, VoiceNotesNeeded):
            current = self.prompts.get(bay)
            if current is not None and not current.pending:
                self.prompts.pop(bay)  # the prompt's own "nothing left"
            elif current is None and happened.keys and self.make_recorder is not None:
                self.prompts[bay] = self._prompt(bay, happened)

    def _prompt(self, bay: int, asked: VoiceNotesNeeded) -> NotePrompt:
        self.workdir.mkdir(mode=0o700, exist_ok=True)
        limits = self.settings.interruptions
        assert self.make_recorder is not None and asked.device is not None
        return NotePrompt(
            bay=bay,
            device=asked.device,
            officer_number=asked.officer_number,
            keys=asked.keys,
            recorder=self.make_recorder(),
            workdir=self.workdir,
            keep=self._keep,
            record=self._record,
            monotonic_s=self.clock.monotonic_s,
            limits=NoteLimits(
                min_duration_s=limits.note_min_duration_s,
                min_voiced_s=limits.note_min_voiced_s,
                voiced_dbfs=limits.note_voiced_dbfs,
            ),
            max_s=limits.note_max_s,
        )

    def _pressed(self, button: ButtonId, kind: Press) -> None:
        with self._lock:
            prompt = self.prompts.get(button) if isinstance(button, int) else None
            if prompt is not None:
                self._guarded(prompt, prompt.press, kind)
            elif kind is Press.LONG and self.technicians is not None:
                bays = [button] if isinstance(button, int) else sorted(self.technicians.machines)
                now_s = self.clock.monotonic_s()
                self._guarded_call(self.technicians.ask, bays, actor=ACTOR, now_s=now_s)

    def _guarded_call(self, call: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """The journal could not be written: logged, the panel and the bays go on."""
        try:
            call(*args, **kwargs)
        except DockError as err:
            log.warning("technician mode: %s", err)

    def _keep(self, statement: Statement) -> str:
        try:
            return keep_note(self.store, statement.path)
        finally:
            statement.path.unlink(missing_ok=True)  # the stored copy is the evidence

    def _record(self, happened: Event) -> None:
        at = self.clock.now_utc()
        with self.db.transaction() as session:
            if isinstance(happened, InterruptionExplained) and happened.note_sha256:
                explain_by_note(
                    session,
                    happened.key,
                    happened.note_sha256,
                    actor=ACTOR,
                    at=at,
                    bay=happened.bay,
                )
            else:
                journal.append(session, happened, actor=ACTOR, at=at)

    def _guarded(self, prompt: NotePrompt, call: Callable[..., object], *args: Any) -> None:
        """A note that could not be stored or linked is refused: the light asks again."""
        try:
            call(*args)
        except DockError as err:
            log.warning("bay %d: voice note not kept: %s", prompt.bay, err)
            if prompt.pending:
                refused = VoiceNoteRefused(
                    bay=prompt.bay, device=prompt.device, key=prompt.pending[0], reason=str(err)
                )
                try:
                    self._record(refused)
                except DockError as also:  # the database itself: logged, the bays go on
                    log.warning("bay %d: %s", prompt.bay, also)


# -- building ---------------------------------------------------------------------------------


MOCK_BAYS = 8  # a Pi header has GPIO 0 to 27: the dock light, then 3 pins per bay


def simulated_pins(count: int) -> tuple[dict[Any, LightPins], dict[ButtonId, int]]:
    """Mock pins for `dock serve --simulate`: the dock light on 0-1, bay n's on 2n and 2n+1,
    its button on 18+n; bays past the eighth run without a light."""
    lights: dict[Any, LightPins] = {gpio.DOCK_LIGHT: LightPins(red=0, green=1)}
    buttons: dict[ButtonId, int] = {}
    for n in range(1, min(count, MOCK_BAYS) + 1):
        lights[n] = LightPins(red=2 * n, green=2 * n + 1)
        buttons[n] = 18 + n
    return lights, buttons


def configured_pins(settings: Settings) -> tuple[dict[Any, LightPins], dict[ButtonId, int]]:
    lights: dict[Any, LightPins] = {}
    for bay, pins in settings.lights.bay_pins.items():
        if pins:
            lights[bay] = LightPins(*pins)
    if settings.lights.dock_pins:
        lights[gpio.DOCK_LIGHT] = LightPins(*settings.lights.dock_pins)
    buttons: dict[ButtonId, int] = {bay: pin for bay, pin in settings.lights.bay_buttons.items()}
    if settings.lights.technician_button >= 0:
        buttons[gpio.TECHNICIAN_BUTTON] = settings.lights.technician_button
    return lights, buttons


def statement_recorder(settings: Settings) -> Callable[[], StatementRecorder]:
    """The note recorder the config names; picamera2 is imported only when it is used."""
    from hw import microphone

    if settings.interruptions.note_source == "camera":
        return microphone.Picamera2Statement
    device = settings.interruptions.alsa_device
    return lambda: microphone.ArecordMicrophone(device)


def build_panel(
    settings: Settings,
    db: Database,
    clock: Clock,
    *,
    simulate: bool,
    technicians: TechnicianDesk | None = None,
) -> Panel | None:
    """The panel for `dock serve`; None on a dock with no pins configured (and not simulated)."""
    if simulate:
        from gpiozero.pins.mock import MockFactory

        from hw.microphone import FakeStatementRecorder

        factory: Any = MockFactory()
        light_pins, button_pins = simulated_pins(settings.bays.count)

        def make_recorder() -> StatementRecorder:
            return FakeStatementRecorder(SIMULATED_NOTE)

    else:
        light_pins, button_pins = configured_pins(settings)
        if not light_pins and not button_pins:
            return None
        try:
            from gpiozero.pins.lgpio import LGPIOFactory  # the `pi` extra

            factory = LGPIOFactory()
        except Exception as err:  # no lgpio, no /dev/gpiochip: the bays work without lights
            log.warning("bay panel off: GPIO unavailable (%s); install the pi extra", err)
            return None
        make_recorder = statement_recorder(settings)
    lights = gpio.GpioLights(light_pins, pin_factory=factory, monotonic_s=clock.monotonic_s)
    lights.start()
    buttons = gpio.GpioButtons(
        button_pins,
        pin_factory=factory,
        monotonic_s=clock.monotonic_s,
        long_press_s=settings.lights.long_press_s,
    )
    store = EvidenceStore(
        settings.dock.data_dir / "store",
        reserve_bytes=settings.offload.reserve_bytes,
        sweeps_temp_files=False,
    )
    return Panel(
        settings,
        db,
        clock=clock,
        lights=lights,
        buttons=buttons,
        make_recorder=make_recorder,
        store=store,
        technicians=technicians,
    )
