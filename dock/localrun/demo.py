"""`make run` (python -m dock.localrun): the whole dock at work on one machine, until Ctrl-C.

Started here, each on loopback ports chosen free and with its data under the run folder
(.run/ by default), nothing system-wide and no network:
- Mosquitto, the registry's broker (anonymous: it listens on 127.0.0.1 only);
- `weed mini`, the object store with object lock, for the central copy;
- the registry (`dock-registry serve`: ingest and dashboard, on SQLite), its URL printed;
- the dock service itself (dock.main.serve) with eight simulated bays, reporting to that
  broker and replicating to that store, and the scenario (dock.localrun.scenario) docking
  officers' recorders in them over time.
The terminal shows the bays live (dock.localrun.board, a journal reader). Ctrl-C stops the
dock first (it publishes its last rows and checkpoint), then the registry and the servers;
each server runs in its own process group and is stopped by group, so nothing is left.
Every start begins afresh: the folders of the last run are removed first.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Group
from rich.text import Text

from dock.errors import DockError
from dock.localrun.servers import (
    Mosquitto,
    ServerError,
    WeedMini,
    free_port,
    require_binary,
    stop_group,
)

BAYS = 8
DOCK_ID = "dock-demo"
REGISTRY_START_TIMEOUT_S = 60.0
PARTS = ("mosquitto", "weed", "registry", "dock")  # the run folder's parts, made afresh
LOG_NAME = "demo.log"


class RegistryNotStarted(ServerError):
    pass


@dataclass
class Registry:
    """`dock-registry serve` in its own process group: the dashboard and one ingest worker."""

    directory: Path
    broker_port: int
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.directory / "registry.log"

    def start(self) -> Registry:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.directory / "registry.toml"
        config.write_text(
            f'database_url = "sqlite:///{self.directory / "registry.db"}"\n'
            "[broker]\n"
            f'host = "127.0.0.1"\nport = {self.broker_port}\ntls = false\nusername = ""\n'
            'client_id = "registry-demo"\nshare_group = ""\n',
            encoding="utf-8",
        )
        program = require_binary(
            str(Path(sys.executable).parent / "dock-registry"),
            "the registry extra (pip install -e '.[registry]'; make setup does)",
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    program,
                    "--config",
                    str(config),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + REGISTRY_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise RegistryNotStarted(f"the registry exited at start; see {self.log_path}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url, timeout=1) as answer,
            ):
                if answer.status == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise RegistryNotStarted(
            f"the registry did not answer on {self.url} within "
            f"{REGISTRY_START_TIMEOUT_S:g} s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None


def dock_config(
    run_dir: Path, broker: Mosquitto, weed: WeedMini, language: str, web_port: int
) -> Path:
    """The dock's config for the demo: everything else stays at its embedded default."""
    folder = run_dir / "dock"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dock.toml"
    config.write_text(
        f'[dock]\ndock_id = "{DOCK_ID}"\nagency = "演示执法局 (demo)"\ndata_dir = "."\n'
        f"[bays]\ncount = {BAYS}\n"
        # The demo's store is small and its disk is the developer's: keep 200 MB free.
        "[offload]\nreserve_bytes = 200000000\n"
        f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'
        "reconnect_min_s = 1\nreconnect_max_s = 5\nstatus_interval_s = 5\ncheckpoint_minutes = 1\n"
        f'[central]\nendpoint_url = "{weed.endpoint_url}"\nbucket = "{weed.bucket}"\n'
        f'access_key_id = "{weed.access_key_id}"\nsecret_access_key_file = "{weed.secret_path}"\n'
        f'[people]\nlanguage = "{language}"\n'
        f'[web]\nenabled = true\nlisten = "127.0.0.1:{web_port}"\n',
        encoding="utf-8",
    )
    return config


def fresh_run_dir(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        shutil.rmtree(run_dir / part, ignore_errors=True)
    (run_dir / LOG_NAME).unlink(missing_ok=True)


def log_to_file(path: Path) -> None:
    """The service's log goes to a file: the terminal belongs to the live board."""
    from dock.main import OneLineFormatter

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("alembic", "botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def servers(
    run_dir: Path, print_: Callable[[str], None]
) -> Iterator[tuple[Mosquitto, WeedMini, Registry]]:
    """The broker, the object store and the registry, started in order and stopped in reverse."""
    with contextlib.ExitStack() as stack:
        broker = Mosquitto(run_dir / "mosquitto")
        stack.callback(broker.stop)
        broker.start()
        print_(
            f"broker:    mqtt://127.0.0.1:{broker.port}  (Mosquitto, data in {broker.directory})"
        )
        weed = WeedMini(run_dir / "weed")
        stack.callback(weed.stop)
        print_("starting the object store (weed mini, some seconds)...")
        weed.start()
        print_(f"store:     {weed.endpoint_url}  (weed mini, bucket {weed.bucket}, object lock)")
        registry = Registry(run_dir / "registry", broker.port)
        stack.callback(registry.stop)
        registry.start()
        print_(f"dashboard: {registry.url}  (the registry; open it in a browser)")
        yield broker, weed, registry


def run(run_dir: Path, *, language: str = "zh") -> None:
    from rich.console import Console
    from rich.live import Live

    from dock.config import load_settings
    from dock.localrun.board import Board
    from dock.localrun.scenario import DEMO_PASSWORD, Scenario, add_demo_staff
    from dock.main import serve

    console = Console()
    run_dir = run_dir.resolve()
    fresh_run_dir(run_dir)
    log_to_file(run_dir / LOG_NAME)
    with servers(run_dir, console.print) as (broker, weed, registry):
        web_port = free_port()
        config = dock_config(run_dir, broker, weed, language, web_port)
        settings = load_settings(config)
        add_demo_staff(settings.dock.data_dir)
        header = [
            f"body-camera dock, simulated: {BAYS} bays · dashboard {registry.url} · "
            f"broker 127.0.0.1:{broker.port} · store {weed.endpoint_url}",
            f"custodians' pages http://127.0.0.1:{web_port}/ (sign in as custodian, leader, "
            f"director, legal or technician; password {DEMO_PASSWORD})",
            f"data and logs in {run_dir} (log: {run_dir / LOG_NAME}) · "
            f"try: dock --config {config} clips --late · Ctrl-C stops everything",
        ]
        lines: deque[str] = deque(maxlen=6)

        def make_board(db):  # type: ignore[no-untyped-def]
            return Board(
                db,
                settings.dock.data_dir,
                count=BAYS,
                dock_id=settings.dock.dock_id,
                header=header,
                registry_url=registry.url,
                lines=lines,
            )

        scenario = Scenario(make_board)
        screen = _Screen(scenario, header)
        with Live(screen, console=console, refresh_per_second=4, redirect_stderr=False):
            serve(settings, simulate=BAYS, echo=lines.append, scenario=scenario)
        console.print("dock stopped; stopping the registry, the store and the broker...")
    console.print(f"all stopped; the last run's data stays in {run_dir} until the next run")


class _Screen:
    """The live renderable: the board once the dock is up, the header before."""

    def __init__(self, scenario: object, header: list[str]) -> None:
        self.scenario = scenario
        self.header = header

    def __rich__(self) -> Group | Text:

        board = getattr(self.scenario, "board", None)
        if board is None:
            return Text("\n".join([*self.header, "starting the dock and its 8 bays..."]))
        return board.render()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dock.localrun",
        description="A simulated dock at work, with its broker, store and registry (make run).",
    )
    parser.add_argument("--dir", type=Path, default=Path(".run"), help="the run folder")
    parser.add_argument("--language", choices=("zh", "en"), default="zh")
    args = parser.parse_args(argv)
    try:
        run(args.dir, language=args.language)
    except DockError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the dock was up: everything was stopped
        print("stopped before the dock was up", file=sys.stderr)
        return 130
    return 0
