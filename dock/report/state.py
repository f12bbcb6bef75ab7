"""What `dock report status` reads without the broker or SQLAlchemy: the publisher's file.

The publisher keeps one CursorFile, data_dir/report.cursor: the last acknowledged row id (its
cursor) and a small state (last connect, last disconnect, the last refusal by the broker).
This module only reads it (stdlib only), so the command starts in a blink.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

STATE_NAME = "report.cursor"


@dataclass(frozen=True)
class ReportState:
    cursor: int = 0  # the last row id the broker acknowledged
    connected_at: str | None = None
    disconnected_at: str | None = None
    refusal: str | None = None  # the broker's last refusal (connect or publish), with its code
    refused_at: str | None = None

    def as_state(self) -> dict[str, str | None]:
        return {
            "connected_at": self.connected_at,
            "disconnected_at": self.disconnected_at,
            "refusal": self.refusal,
            "refused_at": self.refused_at,
        }


def read_state(data_dir: Path) -> ReportState | None:
    """The publisher's last saved state; None before its first save (or when unreadable)."""
    try:
        document = json.loads((data_dir / STATE_NAME).read_text(encoding="utf-8"))
        state = document["state"]
        return ReportState(
            cursor=int(document["cursor"]),
            connected_at=state.get("connected_at"),
            disconnected_at=state.get("disconnected_at"),
            refusal=state.get("refusal"),
            refused_at=state.get("refused_at"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
