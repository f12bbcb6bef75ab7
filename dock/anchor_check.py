"""Compare the local journal with what the central registry holds for this dock.

The local chain alone cannot see a truncated tail or a chain recomputed from an edited row:
both verify locally. The registry kept the rows as they were published, so the first row
whose hash differs, or a registry row the journal no longer has, names the disagreement.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dock.journal import JournalEntry

PAGE = 1000


@dataclass(frozen=True)
class AnchorResult:
    compared: int
    first_disagreement: str | None  # one line, None when the journal agrees

    @property
    def is_intact(self) -> bool:
        return self.first_disagreement is None


def compare(local: Iterable[JournalEntry], held: Iterable[tuple[int, str]]) -> AnchorResult:
    """Walk both in row order; the first id with another hash, or missing locally, is named."""
    local_hashes = {entry.id: entry.hash for entry in local}
    compared = 0
    for row_id, held_hash in held:
        mine = local_hashes.get(row_id)
        if mine is None:
            return AnchorResult(
                compared, f"row {row_id} is held by the registry but missing here (truncated)"
            )
        if mine != held_hash:
            return AnchorResult(
                compared,
                f"row {row_id} differs from the registry's copy (rewritten or recomputed)",
            )
        compared += 1
    return AnchorResult(compared, None)


def held_hashes(base_url: str, dock_id: str, timeout_s: float = 10.0) -> Iterator[tuple[int, str]]:
    """The registry's held hashes for `dock_id`, fetched page by page from its JSON API."""
    import httpx

    after = 0
    with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
        while True:
            response = client.get(
                f"/api/docks/{dock_id}/hashes", params={"after": after, "limit": PAGE}
            )
            response.raise_for_status()
            rows = response.json()["rows"]
            if not rows:
                return
            for row_id, row_hash, _chain_ok in rows:
                yield int(row_id), str(row_hash)
            after = int(rows[-1][0])
