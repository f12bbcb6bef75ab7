"""Repair a damaged or missing local object from its central copy, never from bad bytes.

The central copy is used only when its bytes hash to the object's name: the download is
verified while it is written (CentralStore.download), into the store's own tmp/, and only
then put back read-only in place, the damaged local copy kept under damaged/.
"""

from __future__ import annotations

import os
from pathlib import Path

from dock.config import Settings
from dock.offload.store import EvidenceStore
from dock.replication.central import CentralStore, CentralStoreError
from dock.replication.central import central_from_settings as store_from_central_settings


def repair_from_central(store: EvidenceStore, central: CentralStore, sha256: str) -> Path | None:
    """Put the verified central bytes back; the damaged copy's path ("" if it was missing),
    or None when the central store has no good copy (absent, wrong checksum, unreachable)."""
    try:
        found = central.head(sha256)
        if found is None:
            return None
        if not found.is_multipart and found.checksum_sha256 not in ("", sha256):
            return None
        fd, tmp = store.open_temp()
        os.close(fd)
        try:
            central.download(sha256, tmp)
        except CentralStoreError:
            store.discard(tmp)
            return None
    except CentralStoreError:
        return None
    placed = store.place(tmp, sha256, may_repair=True)
    return placed.damaged_copy or Path()


def central_from_settings(settings: Settings) -> CentralStore | None:
    """The configured central store, or None when replication is off (no endpoint_url)."""
    return store_from_central_settings(settings.central)
