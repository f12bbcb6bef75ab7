"""What every `dock` command shares: the app, its options, one-line errors, the database.

Every expected failure (a DockError) prints one line and exits 1; a traceback means a bug.
Each change runs in one transaction with its journal row, through the same ledger functions
the service uses, so the CLI and the service cannot disagree about what a change means.
"""

from __future__ import annotations

import copy
import functools
import os
import pwd
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from dock.errors import DockError

if TYPE_CHECKING:
    # Imported where used: `dock --help` or `dock bays` must not pay for SQLAlchemy (about a
    # second on a Raspberry Pi) or rich's tables when they print none.
    from rich.table import Table
    from sqlalchemy.orm import Session

    from dock import journal
    from dock.config import Settings


class _OneCommandTyper(typer.Typer):
    """Builds only the command the argument line names (all of them for help or a typo).

    typer turns every registered function into a click command on each start, reading its
    signature and annotations: with thirty commands that costs more than `dock bays` itself.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        argv = kwargs.get("args", args[0] if args else None)
        return typer.Typer.__call__(
            self._only(sys.argv[1:] if argv is None else argv), *args, **kwargs
        )

    def _only(self, argv: list[str]) -> typer.Typer:
        name = _command_word(argv)
        commands = [c for c in self.registered_commands if _name_of(c) == name]
        groups = [g for g in self.registered_groups if g.name == name]
        if not commands and not groups:
            return self  # help, no command, or an unknown one: click needs them all to answer
        one = copy.copy(self)
        one.registered_commands, one.registered_groups = commands, groups
        return one


def _command_word(argv: list[str]) -> str | None:
    """The first word that is not the app's own option (--config PATH) or a help flag."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
        elif not word.startswith("--config="):
            return None  # --help or an option only click can judge
    return None


def _name_of(command: Any) -> str:
    from typer.main import get_command_name

    return command.name or get_command_name(command.callback.__name__)


app = _OneCommandTyper(
    help="Body-camera docking station.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: typer's rich help alone costs more than the command
)
officer_app = typer.Typer(help="Officers (警号, name, unit).", no_args_is_help=True)
device_app = typer.Typer(help="Recorders in the ledger (台账).", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident journal.", no_args_is_help=True)
config_app = typer.Typer(help="The dock's configuration file.", no_args_is_help=True)
app.add_typer(officer_app, name="officer")
app.add_typer(device_app, name="device")
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")

F = TypeVar("F", bound=Callable[..., Any])
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="The dock's TOML file (default: $DOCK_CONFIG, else built-in)."),
]


def one_line_errors(command: F) -> F:
    """Print an expected failure as one line on stderr and exit 1, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DockError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        except sqlite3.OperationalError as error:
            _database_error(str(error))
        except Exception as error:
            exc = sys.modules.get("sqlalchemy.exc")  # loaded only if the command used it
            if exc is None or not isinstance(error, exc.OperationalError):
                raise
            _database_error(str(error.orig).splitlines()[0] if error.orig else "unknown")

    return wrapper  # type: ignore[return-value]


def _database_error(reason: str) -> None:
    typer.echo(f"error: database: {reason}; check dock.data_dir and retry", err=True)
    raise typer.Exit(1) from None


@app.callback()
def main(ctx: typer.Context, config: ConfigOption = None) -> None:
    ctx.obj = config


def settings_of(ctx: typer.Context) -> Settings:
    from dock.config import load_settings

    return load_settings(ctx.find_root().obj)


@contextmanager
def open_transaction(ctx: typer.Context) -> Iterator[Session]:
    """A transaction for a command that changes something (creates the data folder)."""
    from dock.db import open_database

    db = open_database(settings_of(ctx).dock.data_dir)
    try:
        with db.transaction() as session:
            yield session
    finally:
        db.close()


class NoDockData(DockError):
    """A command that only reads found no dock data where the config points."""


def require_records(data_dir: Path) -> Path:
    """The database file of data_dir, migrated if older than the code; never created here.

    A command that only reads must not leave an empty database behind and then report on
    it ("journal intact", no clips): a wrong data_dir would look like an empty dock.
    """
    from dock.db.database import DB_FILE_NAME, is_schema_current

    path = data_dir / DB_FILE_NAME
    if not data_dir.is_dir():
        raise NoDockData(
            f"the data folder {data_dir} does not exist: check dock.data_dir (or --config)"
        )
    if not path.is_file():
        raise NoDockData(f"no dock database in {data_dir}: check dock.data_dir (or --config)")
    if not is_schema_current(path):
        from dock.db import open_database  # Alembic only when there is something to migrate

        open_database(data_dir).close()
    return path


@contextmanager
def open_records(ctx: typer.Context) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection for reading (and the verify checkpoint), no SQLAlchemy."""
    from dock.db.database import BUSY_TIMEOUT_MS

    raw = sqlite3.connect(require_records(settings_of(ctx).dock.data_dir), isolation_level=None)
    try:
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        raw.execute("PRAGMA synchronous = FULL")
        yield raw
    finally:
        raw.close()


def cli_actor() -> str:
    return "cli:" + pwd.getpwuid(os.getuid()).pw_name


def utc_now() -> datetime:
    from dock.clock import SystemClock

    return SystemClock().now_utc()


def show(*renderables: Any) -> None:
    from rich.console import Console

    Console().print(*renderables)


def plain_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A table drawn like rich's, without rich (about a third of `dock bays`' start).

    Never wrapped: a long reason stays on its row. Wide (CJK) characters count two columns.
    """
    widths = [max(map(_columns, column)) for column in zip(headers, *rows, strict=True)]

    def line(left: str, fill: str, middle: str, right: str) -> str:
        return left + middle.join(fill * (w + 2) for w in widths) + right

    def cells(bar: str, values: tuple[str, ...]) -> str:
        padded = (f" {v}{' ' * (w - _columns(v))} " for v, w in zip(values, widths, strict=True))
        return bar + bar.join(padded) + bar

    out = [line("┏", "━", "┳", "┓"), cells("┃", headers), line("┡", "━", "╇", "┩")]
    out += [cells("│", row) for row in rows]
    out.append(line("└", "─", "┴", "┘"))
    return "\n".join(out)


def _columns(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(*headers: str) -> Table:
    from rich.table import Table

    return Table(*headers)


def when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""


def journal_table(rows: list[journal.JournalEntry]) -> Table:
    out = table("#", "time (UTC)", "event", "actor", "bay", "device", "details")
    for column in out.columns[:4]:
        column.no_wrap = True
    for r in rows:
        details = ", ".join(f"{k}={v}" for k, v in r.data.items() if v not in (None, "", []))
        bay = "" if r.bay is None else str(r.bay)
        out.add_row(str(r.id), when(r.at_utc), r.type, r.actor, bay, r.device or "", details)
    return out


# -- typer without pydantic -------------------------------------------------------------------
# typer 0.29 builds a pydantic TypeAdapter for every parameter it parses, even a default;
# importing pydantic costs more than `dock bays` does in all. Our parameters are plain str,
# int, float, bool and Path (or None): convert those here, typer's own way otherwise.
# typer is pinned; tests/integration/test_cli_start.py fails if this stops taking effect.


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = {"1": True, "true": True, "yes": True, "on": True}
    words |= {"0": False, "false": False, "no": False, "off": False}
    return words[str(value).lower()]  # KeyError: not a boolean, reported as such


_PLAIN_TYPES: dict[Any, Callable[[Any], Any]] = {
    str: str,
    int: int,
    float: float,
    bool: _flag,
    Path: Path,
}


def _install_plain_parameters() -> None:
    import typer.core
    import typer.main
    from typer._coercion import RuntimeParam

    class PlainParam(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            convert = _PLAIN_TYPES[_plain_type(self.annotation)]
            try:
                result = convert(value)
            except (TypeError, ValueError, KeyError):
                kind = getattr(_plain_type(self.annotation), "__name__", "value")
                raise typer.BadParameter(
                    f"{value!r} is not a valid {kind}.", ctx=ctx, param=param
                ) from None
            info = self.parameter_info
            if isinstance(result, bool):
                return result
            if info.min is not None and result < info.min:
                raise typer.BadParameter(
                    f"{value} is below the minimum {info.min}.", ctx=ctx, param=param
                )
            if info.max is not None and result > info.max:
                raise typer.BadParameter(
                    f"{value} is above the maximum {info.max}.", ctx=ctx, param=param
                )
            return result

    typer_build = typer.core.build_runtime_param

    def build(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        if (
            descriptor.file_annotation is not None
            or info.parser is not None
            or _plain_type(descriptor.annotation) is None
        ):
            return typer_build(descriptor)
        return PlainParam(parameter_info=info, annotation=descriptor.annotation)

    typer.core.build_runtime_param = build  # type: ignore[assignment]
    # typer reads each command's signature twice (its parameters, then their names), each
    # time evaluating every annotation string again: once is enough for `dock --help`.
    typer.main.get_params_from_function = functools.cache(typer.main.get_params_from_function)


def _plain_type(annotation: Any) -> Any:
    """str, int, float, bool or Path for `X` or `X | None`, else None."""
    import types

    if isinstance(annotation, types.UnionType):
        kinds = [a for a in annotation.__args__ if a is not type(None)]
        annotation = kinds[0] if len(kinds) == 1 else None
    return annotation if annotation in _PLAIN_TYPES else None


_install_plain_parameters()
