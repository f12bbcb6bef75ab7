"""An image over the link: begin (or resume), chunks at the recorder's offset, commit.

The recorder says where it wants the next chunk, so the dock never guesses: after an unplug,
a link error or a dock restart, FirmwareBegin for the same image answers with the bytes the
recorder already holds and only the rest is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge.client import MAX_CHUNK_BYTES, FirmwareState, RecorderClient
from firmware_bridge.errors import ProtocolError
from firmware_bridge.image import Image


@dataclass(frozen=True)
class Transfer:
    resumed_from_bytes: int  # what the recorder already held when we began
    sent_bytes: int  # image bytes this run put on the link (resends included)
    size_bytes: int
    state: FirmwareState  # the recorder's answer to the commit: the image is pending


def send_image(
    client: RecorderClient,
    image: Image,
    *,
    allow_downgrade: bool = False,
    chunk_bytes: int = MAX_CHUNK_BYTES,
    on_begin: Callable[[int], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Transfer:
    """Send `image` from wherever the recorder stopped, then commit it for a test boot.

    `on_begin(resumed_from_bytes)` runs once the recorder took the manifest;
    `on_progress(done_bytes, total_bytes)` after each chunk. Refusals raise `Refused`.
    """
    if not 0 < chunk_bytes <= MAX_CHUNK_BYTES:
        raise ValueError(f"chunk_bytes must be 1 to {MAX_CHUNK_BYTES}, not {chunk_bytes}")
    progress = client.firmware_begin(
        image.manifest_bytes, image.signature, allow_downgrade=allow_downgrade
    )
    if progress.image_sha256 != image.sha256 or progress.size_bytes != len(image.payload):
        raise ProtocolError("recorder answered FirmwareBegin about another image")
    resumed_from = offset = progress.next_offset
    if on_begin is not None:
        on_begin(resumed_from)
    sent = 0
    size = len(image.payload)
    while offset < size:
        data = image.payload[offset : offset + chunk_bytes]
        progress = client.firmware_chunk(offset, data)
        sent += len(data)
        if not offset < progress.next_offset <= size:
            raise ProtocolError(
                f"recorder did not take the chunk at {offset} (it wants {progress.next_offset})"
            )
        offset = progress.next_offset
        if on_progress is not None:
            on_progress(offset, size)
    state = client.firmware_commit(image.sha256)
    return Transfer(resumed_from, sent, size, state)
