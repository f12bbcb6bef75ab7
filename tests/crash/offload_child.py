"""The process the crash test kills: one dock, one simulated recorder, one offload.

Run as `python tests/crash/offload_child.py WORKDIR [--pair]`. WORKDIR holds what must
survive a SIGKILL, as on a real dock and recorder: `data/` (the dock's database and
evidence store), `card/` (the recorder's card, a directory) and `manifest.json` (the
recorder's own clip database: paths, times, hashes, card kind; written by the test, read
here). The card may instead be `card.img`, a FAT32 image the simulator made ("fat32"), or
a damaged real-layout image served as it is ("fat32-damaged": `recorder-sim --card`, listed
from the card itself, no device hashes, changed only by exact deletions).

The recorder runs in this process too, so a kill is a dock crash and a recorder replug at
once. Its pairing key lives in its flash, which the simulator does not keep: like
dock.simulation, the key is read back from the dock's ledger on every start.

Everything is built the way `dock serve` builds it (dock.main.build_service), with
simulated hot-plug and volumes. The process prints one line per milestone on stdout, so the
test knows which steps a kill may have cut:
  `swept N`   the store is open and N leftover temp files were removed;
  `plugged`   the recorder is in the bay and the docking has started;
  `done STATE stored=N already=N deleted=N failed=N` the docking finished.
--pair registers, assigns and pairs the recorder, then exits: the test's setup, never killed.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from pathlib import Path

from dock import ledger
from dock.clock import SystemClock
from dock.config import Settings, parse_settings
from dock.main import build_service
from dock.pairing import pair_over_link
from firmware_bridge.client import RecorderClient
from firmware_bridge.sim import (
    DirectoryStorage,
    Fat32ImageStorage,
    GeneratedClip,
    SimRecorder,
    Storage,
)
from firmware_bridge.sim import open_card as open_card_dump
from hw.clock_sync import FakeClockSync
from hw.hotplug import SimulatedHotplug
from hw.volumes import SimulatedVolumes

PORT = "1-1.1"
OFFICER_NUMBER = "700001"
ACTOR = "crashtest"
RESULT_WAIT_S = 120
CLOCK = SystemClock()


def settings_for(workdir: Path) -> Settings:
    return parse_settings(
        {
            "dock": {"data_dir": str(workdir / "data"), "agency": "City Management"},
            "bays": {"count": 1, "usb_port_paths": {PORT: 1}},
            # Small simulated cards must pass the storage check: a shift needs 450 kB here.
            "check": {"allowed_firmware": ["1.0.0"], "shift_hours": 1, "bitrate_mbps": 0.001},
            "link": {"timeout_s": 2.0, "retries": 2},
            "offload": {"reserve_bytes": 0, "delete_policy": "after_verified_copy"},
        },
        base_dir=workdir,
        source=None,
    )


def load_manifest(workdir: Path) -> tuple[str, str, list[GeneratedClip]]:
    """(serial, card kind, every clip the recorder ever recorded), as the test wrote them."""
    manifest = json.loads((workdir / "manifest.json").read_text())
    clips = [
        GeneratedClip(**{**c, "sha256": bytes.fromhex(c["sha256"])}) for c in manifest["clips"]
    ]
    return manifest["serial"], manifest["card_kind"], clips


def open_card(workdir: Path, kind: str, serial: str) -> Storage:
    if kind == "fat32-damaged":
        return open_card_dump(workdir / "card.img", label=serial)
    if kind == "fat32":
        return Fat32ImageStorage(workdir / "card.img", serial)
    return DirectoryStorage(workdir / "card", serial)


def say(line: str) -> None:
    print(line, flush=True)


def enrol(db, serial: str) -> None:
    now = CLOCK.now_utc()
    with db.transaction() as session:
        ledger.register_device(
            session, serial=serial, model="ZFY-SIM", firmware_version="1.0.0", actor=ACTOR, at=now
        )
        ledger.register_officer(
            session,
            officer_number=OFFICER_NUMBER,
            name="Crash Test Officer",
            unit_number="U1",
            unit_name="City Management",
            actor=ACTOR,
            at=now,
        )
        ledger.assign(session, serial, OFFICER_NUMBER, actor=ACTOR, at=now)


def run(workdir: Path, *, is_pairing: bool) -> int:
    serial, card_kind, clips = load_manifest(workdir)
    hotplug = SimulatedHotplug()
    volumes = SimulatedVolumes()
    results: queue.Queue = queue.Queue()
    service, db = build_service(
        settings_for(workdir),
        hotplug=hotplug,
        clock_sync=FakeClockSync(True),
        clock=CLOCK,
        volumes=volumes,
        on_result=lambda bay, result: results.put(result),
    )
    store = service.bays[1].offloader.store  # type: ignore[union-attr]
    say(f"swept {len(store.removed_temp_files)}")
    with db.transaction() as session:
        key = ledger.paired_key(session, serial)
    card = open_card(workdir, card_kind, serial)
    recorder = SimRecorder(
        card,
        serial=serial,
        clips=clips,
        key=key,  # the key the recorder kept in its flash when it was paired
        on_mass_storage=lambda is_on: volumes.expose(PORT, is_on),
    )
    try:
        if is_pairing:
            enrol(db, serial)
            with RecorderClient.open(recorder.plug()) as client:
                pair_over_link(db, client, serial, actor=ACTOR, clock=CLOCK)
            say("paired")
            return 0
        stop = threading.Event()
        runner = threading.Thread(target=service.run, args=(stop,), name="dock-service")
        runner.start()
        try:
            volumes.insert(PORT, card_kind.removesuffix("-damaged"), card.location, serial)
            hotplug.attach(PORT, recorder.plug())
            say("plugged")
            result = results.get(timeout=RESULT_WAIT_S)
        finally:
            stop.set()
            runner.join(30)
        report = result.offload
        counts = (
            f"stored={report.stored} already={report.already_stored} "
            f"deleted={report.deleted} failed={report.failed}"
            if report is not None
            else "stored=0 already=0 deleted=0 failed=0"
        )
        say(f"done {result.state} {counts}")
        return 0
    finally:
        recorder.stop()
        db.close()


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or (len(argv) == 2 and argv[1] != "--pair"):
        print("usage: offload_child.py WORKDIR [--pair]", file=sys.stderr)
        return 2
    return run(Path(argv[0]), is_pairing=len(argv) == 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
