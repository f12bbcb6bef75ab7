"""`dock ...`: the custodian's and technician's commands.

Every expected failure (a DockError) prints one line and exits 1; a traceback means a bug.
Each change runs in one transaction with its journal row, through the same ledger functions
the service uses, so the CLI and the service cannot disagree about what a change means.
"""

from dock.cli import (  # noqa: F401 (registers)
    bay_commands,
    evidence_commands,
    export_commands,
    firmware_commands,
    interruption_commands,
    ledger_commands,
    people_commands,
    period_report_commands,
    reflash_commands,
    replication_commands,
    report_commands,
    retention_commands,
    technician_commands,
    web_commands,
)
from dock.cli.common import app

__all__ = ["app"]
