"""`dock ...`: the custodian's and technician's commands.

Every expected failure (a DockError) prints one line and exits 1; a traceback means a bug.
Each change runs in one transaction with its journal row, through the same ledger functions
the service uses, so the CLI and the service cannot disagree about what a change means.
"""

from dock.cli import bay_commands, evidence_commands, ledger_commands  # noqa: F401 (registers)
from dock.cli.common import app

__all__ = ["app"]
