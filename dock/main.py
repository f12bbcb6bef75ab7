"""Wiring: the only place the dock's real adapters are built.

Everything else takes its clock, hot-plug source and clock-sync adapter as arguments, so a
test or the simulator can hand in fakes; here the defaults are the real ones (udev, systemd's
clock, the system clock). pyudev is imported only when the real hot-plug is built, so a
machine without udev can still run `dock serve --simulate`.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from dock.bays.docking import DockingResult
from dock.clock import Clock, SystemClock
from dock.config import Settings
from dock.control import ControlServer
from dock.db.database import Database, open_database
from dock.errors import DockError
from dock.events import ClockSet, Event, EventBus, VoiceNotesNeeded
from dock.i18n import choose, t
from dock.offload.ingest import Offloader
from dock.offload.store import EvidenceStore
from dock.service import DockService
from hw.clock_sync import ClockSync, FakeClockSync, TimedatectlClockSync
from hw.hotplug import HotplugSource, SimulatedHotplug
from hw.mount_helper import HelperVolumes
from hw.volumes import SimulatedVolumes, VolumeFinder

if TYPE_CHECKING:
    from dock.simulation import SimulatedDock

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
NOTABLE_DRIFT_S = 1.0  # smaller corrections happen at every check and are not news
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class HotplugUnavailable(DockError):
    """The USB hot-plug monitor cannot start (no udev, no netlink permission)."""


def build_service(
    settings: Settings,
    *,
    hotplug: HotplugSource | None = None,
    clock_sync: ClockSync | None = None,
    clock: Clock | None = None,
    volumes: VolumeFinder | None = None,
    on_result: Callable[[int, DockingResult], None] | None = None,
) -> tuple[DockService, Database]:
    """The dock service and its open database; the caller runs the one and closes the other."""
    db = open_database(settings.dock.data_dir, EventBus())
    clock = clock if clock is not None else SystemClock()
    try:
        store = EvidenceStore(
            settings.dock.data_dir / "store", reserve_bytes=settings.offload.reserve_bytes
        )
        offloader = Offloader(
            db,
            store,
            settings,
            clock,
            volumes if volumes is not None else HelperVolumes(),  # mounts: bodycam-dock-mount
        )
        service = DockService(
            settings,
            db,
            hotplug if hotplug is not None else real_hotplug(),
            clock=clock,
            clock_sync=clock_sync if clock_sync is not None else TimedatectlClockSync(),
            offloader=offloader,
            on_result=on_result,
        )
    except BaseException:
        db.close()
        raise
    return service, db


def real_hotplug() -> HotplugSource:
    try:
        from hw.hotplug import UdevHotplug

        return UdevHotplug()
    except ImportError as error:
        raise HotplugUnavailable(
            f"cannot watch USB hot-plug: {error}; install pyudev (make setup)"
        ) from None
    except OSError as error:
        raise HotplugUnavailable(
            f"cannot watch USB hot-plug: {error.strerror or error}; run on a machine with "
            "udev, or try `dock serve --simulate N`"
        ) from None


class OneLineFormatter(logging.Formatter):
    """One line per record. An expected failure (DockError) loses its traceback: its message
    already says what to do. Any other exception keeps it, because a traceback means a bug."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        message = record.getMessage()
        failure = record.exc_info[1] if record.exc_info else None
        if isinstance(failure, DockError):
            message = f"{message}: {failure}"
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = message.replace("\n", " | "), None
        return super().format(record)


def configure_logging(level: int = logging.INFO) -> None:
    """Log records to stderr, one line each (systemd's journal adds the unit and time)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))  # "migrating": noise


# -- `dock serve` -----------------------------------------------------------------------------


class VerdictPrinter:
    """Says each bay's verdict as it lands, and each clock the dock corrected, one line each.

    Called from the bay threads and the event bus, so lines are written under a lock."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.service: DockService | None = None
        self._lock = threading.Lock()

    def verdict(self, bay: int, result: DockingResult) -> None:
        serial = result.identity.device_serial if result.identity is not None else "recorder"
        report = result.offload
        if report is not None:
            self._say(f"bay {bay} {serial}: offload: {report.summary()}")
        # The word in the agency's language; the reasons as the check wrote them.
        if result.verdict is not None:
            reasons = "; ".join(r.text for r in result.verdict.reasons)
            text = t(result.verdict.word) + (f": {reasons}" if reasons else "")
        else:
            reason = self.service.bays[bay].machine.reason if self.service is not None else ""
            text = t(result.state.upper()) + (f": {reason}" if reason else "")
        self._say(f"bay {bay} {serial}: {text}")

    def event(self, happened: Event) -> None:
        if isinstance(happened, ClockSet) and abs(happened.drift_before_s) >= NOTABLE_DRIFT_S:
            drift_s = happened.drift_before_s
            self._say(
                f"bay {happened.bay} {happened.device}: recorder clock was {abs(drift_s):.0f} s "
                f"{'fast' if drift_s > 0 else 'slow'}; set from the dock clock, "
                f"read back {happened.drift_after_s:+.1f} s off"
            )
        elif isinstance(happened, VoiceNotesNeeded) and happened.described:
            # The officer at the bay hears which: press the bay's button, speak, press again.
            for line in happened.described:
                self._say(f"bay {happened.bay} {happened.device}: voice note needed: {line}")

    def _say(self, line: str) -> None:
        with self._lock:
            self.echo(line)


def serve(
    settings: Settings,
    *,
    simulate: int = 0,
    echo: Callable[[str], None] = print,
    scenario: Callable[[SimulatedDock], None] | None = None,
) -> None:
    """Run the bays until SIGTERM or SIGINT; each bay finishes the step it is in, then stops.

    simulate=N: N simulated recorders in bays 1..N (dock.simulation) instead of udev; the
    dock's own clock then counts as synchronised, as on a Pi with a time source. Otherwise,
    bays bound in the config ([bays.fixed.N]) are watched on their fixed ports instead of udev.
    scenario (`make run`, dock.localrun): with simulate=N, it docks and undocks simulated
    recorders itself, on its own thread, instead of one per bay at start; it returns once
    `stop` is set, and the dock waits for it before stopping.
    """
    from dock.simulation import SimulatedBays, SimulatedDock, simulated_settings

    choose(settings.people.language, settings.people.time_zone)  # as every CLI command does
    # `kill -USR1` on a dock that will not stop prints every thread's stack to its log.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    printer = VerdictPrinter(echo)
    hotplug: SimulatedHotplug | None = None
    volumes: SimulatedVolumes | None = None
    fixed: tuple[HotplugSource, VolumeFinder] | None = None
    if simulate:
        settings = simulated_settings(settings, simulate)
        hotplug = SimulatedHotplug()
        volumes = SimulatedVolumes()
    elif settings.bays.fixed:
        settings, fixed = fixed_bays(settings)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(_restore_handlers, previous)
        # The socket first: a second service on the same data must stop before any bay moves.
        control = ControlServer(settings.dock.data_dir)
        cleanup.callback(control.stop)
        service, db = build_service(
            settings,
            hotplug=hotplug if fixed is None else fixed[0],
            clock_sync=FakeClockSync(True) if simulate else None,
            volumes=volumes if fixed is None else fixed[1],
            on_result=printer.verdict,
        )
        cleanup.callback(db.close)
        publisher = None
        if settings.mqtt.enabled:  # reporting: no broker just grows the backlog
            from dock.report.publisher import Publisher

            publisher = Publisher(settings, db, SystemClock())
            # Stopped last: its signed checkpoint covers the rows every other part writes as
            # it stops, and all of them reach the broker before `stopped`.
            cleanup.callback(publisher.stop)
        from dock.panel import build_panel  # the bay lights and buttons

        panel = build_panel(
            settings,
            db,
            SystemClock(),
            simulate=bool(simulate),
            technicians=service.technicians,
        )
        if panel is not None:
            panel.start()
            cleanup.callback(panel.stop)
        from dock.interruptions.overdue_sweep import OverdueSweeper

        sweeper = OverdueSweeper(
            db,
            SystemClock(),
            settings.interruptions,
            every_s=60 * settings.interruptions.overdue_sweep_minutes,
        )
        sweeper.start()
        cleanup.callback(sweeper.stop)
        from dock.replication.replicator import build_replicator  # central copy

        replicator = build_replicator(settings, db, SystemClock())
        if replicator is not None:
            replicator.start()
            cleanup.callback(replicator.stop)
        if publisher is not None:
            if panel is not None:  # the dock light shows whether the broker hears the dock
                publisher.on_connectivity.append(panel.follower.set_broker)
            publisher.start()
        printer.service = service
        assert db.bus is not None
        db.bus.subscribe(printer.event)
        if simulate and scenario is None:
            assert volumes is not None
            simulated = SimulatedBays(simulate, settings.dock.data_dir, db, SystemClock(), volumes)
            cleanup.callback(simulated.stop)
        if settings.web.enabled:  # the custodians' pages, on the dock's network only
            from dock.web.serve import start_web

            cleanup.callback(start_web(settings, db))
        control.start(service)
        what = f"{simulate} simulated recorders" if simulate else "udev hot-plug"
        if fixed is not None:
            what = "fixed bays " + ", ".join(
                f"{bay} ({binding.port}, card {binding.card})"
                for bay, binding in sorted(settings.bays.fixed.items())
            )
        echo(
            f"dock serving {len(service.bays)} bays with {what}; data in "
            f"{settings.dock.data_dir}; stop with Ctrl-C or SIGTERM"
        )
        if simulate and hotplug is not None:
            program = sys.argv[0] if sys.argv[0].endswith("dock") else "dock"
            config = f" --config {settings.source}" if settings.source else ""
            echo(
                f"meanwhile, in another terminal: {program}{config} bays | clips | journal | "
                "audit verify | check 3 | offload 1"
            )
            if scenario is None:
                simulated.plug_all(hotplug)
            hotplug.scan_done()  # those were the recorders in their bays at start
        if scenario is not None and hotplug is not None and volumes is not None:
            dock = SimulatedDock(settings, db, service, hotplug, volumes, panel, stop)
            acting = threading.Thread(target=scenario, args=(dock,), name="scenario", daemon=True)
            acting.start()
            cleanup.callback(acting.join, 60)
        status = f"serving {len(service.bays)} bays with {what}"
        tell_systemd(service, settings, cleanup, status, stop)
        service.run(stop)
    echo("dock stopped")


# Threads of the journal readers started above; one that has ended stops the watchdog.
READER_THREADS = ["report-publisher", "replicator", "lights", "note-ticks"]


def tell_systemd(
    service: DockService,
    settings: Settings,
    cleanup: contextlib.ExitStack,
    status: str,
    stop: threading.Event,
) -> None:
    """READY now, watchdog pings while healthy, STOPPING as soon as `stop` is set."""
    from dock import notify

    notifier = notify.Notifier.from_environment()
    cleanup.callback(notifier.close)
    saying_stopping = threading.Thread(
        target=lambda: stop.wait() and notifier.stopping(), name="notify-stopping", daemon=True
    )
    interval_s = notify.watchdog_interval_s()
    if interval_s is not None:
        health = notify.all_of(
            service.health,
            notify.threads_alive(READER_THREADS),
            notify.writable_directory(settings.dock.data_dir / "store", "the evidence store"),
        )
        # While stopping, bays and readers end on purpose: that is no hang to report.
        watchdog = notify.Watchdog(notifier, lambda: [] if stop.is_set() else health(), interval_s)
        watchdog.healthy_status = status
        watchdog.start()
        cleanup.callback(watchdog.stop)
    notifier.ready(status)
    saying_stopping.start()
    cleanup.callback(saying_stopping.join, 5)  # before the watchdog stops: run last-in first


def fixed_bays(settings: Settings) -> tuple[Settings, tuple[HotplugSource, VolumeFinder]]:
    """The settings with each [bays.fixed.N] wired to its port path, its hot-plug and volumes.

    A dock without udev (a desktop station, a test from outside) watches the bound serial
    ports appear and vanish and reads the bound card sources; it does not watch udev."""
    from hw.fixed_ports import FixedPortsHotplug
    from hw.volumes import FixedVolumes, fixed_port_path

    fixed = settings.bays.fixed
    ports = {fixed_port_path(bay): binding.port for bay, binding in fixed.items()}
    cards = {fixed_port_path(bay): binding.card for bay, binding in fixed.items()}
    paths = {**settings.bays.usb_port_paths, **{fixed_port_path(bay): bay for bay in fixed}}
    settings = replace(
        settings, bays=replace(settings.bays, usb_port_paths=MappingProxyType(paths))
    )
    volumes = FixedVolumes(cards, card_utc_offset_min=settings.offload.card_utc_offset_min)
    return settings, (FixedPortsHotplug(ports), volumes)


def _restore_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
