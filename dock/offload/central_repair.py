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
    central = settings.central
    if not central.endpoint_url:
        return None
    secret = ""
    if central.secret_access_key_file:
        try:
            secret = Path(central.secret_access_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CentralStoreError(
                f"cannot read central.secret_access_key_file {central.secret_access_key_file} "
                f"({type(exc).__name__}): check the path and its permissions"
            ) from None
    return CentralStore(
        endpoint_url=central.endpoint_url,
        bucket=central.bucket,
        region=central.region,
        access_key_id=central.access_key_id,
        secret_access_key=secret,
        ca_bundle=Path(central.ca_bundle) if central.ca_bundle else None,
        part_size_bytes=central.part_size_mib * 1024 * 1024,
    )
