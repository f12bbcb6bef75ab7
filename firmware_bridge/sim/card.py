"""Serving a card that already exists (`recorder-sim --card CARD.img`), exactly as it is.

A recorder maker or a custodian points the simulator at a dump of a real card. Nothing here
formats or writes it: the image is opened with the dock's own read-only readers and only the
deletions the dock asks for change it (`exact_delete`). What the simulated recorder lists
comes from the card itself:

- start time from a name in the recorder layout `YYYYMMDD_HHMMSS_<serial>_<officer>.MP4`
  (local time on the card, `utc_offset_min` east of UTC), else the file's modify time;
- end time from the file's modify time (never before the start);
- "important" from the read-only attribute or an `IMPORTANT/` folder;
- no device hash, as real GA/T 947 recorders keep none, unless a sidecar gives one.

The sidecar is `CARD.img.sha256` beside the image, in `sha256sum` format: one line per file,
64 hex digits, two spaces (or a space and `*`), then the card path with `/` between folders
and no leading `/`, e.g. `sha256sum DCIM/*/*.MP4 > ../CARD.img.sha256` run in a mounted copy.
A path in it that the card does not hold is ignored; a malformed line stops the simulator.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from firmware_bridge.sim.images import ExfatImageStorage, Fat32ImageStorage, ImageStorage
from firmware_bridge.sim.storage import DirectoryStorage, FileFacts, Storage, StorageError
from hw.volumes import file_system_of

SIDECAR_SUFFIX = ".sha256"
DEFAULT_UTC_OFFSET_MIN = 480  # China Standard Time: where GA/T 947 recorders are set
_LAYOUT = re.compile(r"(\d{8})_(\d{6})_[^_/]+_[^_/]+\.[A-Za-z0-9]{1,4}")
_SIDECAR_LINE = re.compile(r"([0-9A-Fa-f]{64}) [ *](.+)")


def card_kind(path: Path) -> str:
    """ "dir", "fat32" or "exfat", from what is at `path` (its boot sector for an image)."""
    if path.is_dir():
        return "dir"
    try:
        with open(path, "rb") as handle:
            boot = handle.read(512)
    except OSError as err:
        raise StorageError(f"cannot read the card {path}: {err.strerror}") from None
    kind = file_system_of(boot)
    if kind:
        return kind
    raise StorageError(
        f"{path} is neither a FAT32 nor an exFAT image (nor a folder); give a card dump"
    )


def open_card(
    path: Path, *, label: str = "", utc_offset_min: int = DEFAULT_UTC_OFFSET_MIN
) -> Storage:
    """The card at `path` as the simulator's storage, read-only but for exact deletions.

    label: the card's own volume label unless given (a folder has none: its name then)."""
    path = Path(path)
    kind = card_kind(path)
    storage: Storage
    if kind == "dir":
        storage = DirectoryStorage(path, label or path.name)
    else:
        image_cls: type[ImageStorage] = Fat32ImageStorage if kind == "fat32" else ExfatImageStorage
        image = image_cls(path, label, utc_offset_min=utc_offset_min)
        image.label = label or image.volume_label()
        storage = image
    storage.device_hashes = load_sidecar(sidecar_path(path))
    return storage


def sidecar_path(card: Path) -> Path:
    return card.with_name(card.name + SIDECAR_SUFFIX)


def load_sidecar(path: Path) -> dict[str, bytes]:
    """{card path: SHA-256} from a sha256sum-format file; {} when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        raise StorageError(f"cannot read the hash sidecar {path}: {err}") from None
    hashes: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        escaped = line.startswith("\\")  # sha256sum escapes names holding \ or a newline
        match = _SIDECAR_LINE.fullmatch(line[1:] if escaped else line)
        if match is None:
            raise StorageError(
                f"{path} line {number} is not `<64 hex digits>  <card path>`; fix or remove it"
            )
        name = match[2].removeprefix("./")
        if escaped:
            name = name.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        hashes[name] = bytes.fromhex(match[1])
    return hashes


def listing_times(path: str, facts: FileFacts, utc_offset_min: int) -> tuple[int, int]:
    """(start, end) in UTC seconds, from the file's name in the recorder layout and its
    modify time; (0, 0) when the card says neither."""
    start = _name_time_s(path.rsplit("/", 1)[-1], utc_offset_min)
    modified = facts.modified_utc_s
    if start is None:
        start = modified if modified is not None else 0
    end = modified if modified is not None and modified >= start else start
    return start, end


def _name_time_s(name: str, utc_offset_min: int) -> int | None:
    match = _LAYOUT.fullmatch(name)
    if match is None:
        return None
    zone = timezone(timedelta(minutes=utc_offset_min))
    try:
        local = datetime.strptime(match[1] + match[2] + "+0000", "%Y%m%d%H%M%S%z")
    except ValueError:
        return None  # 20261399_...: digits, not a date
    return int(local.replace(tzinfo=zone).timestamp())


def is_important(path: str, facts: FileFacts) -> bool:
    """Locked clips: the read-only attribute, or kept in a folder named IMPORTANT."""
    folders = path.split("/")[:-1]
    return facts.is_readonly or any(folder.upper() == "IMPORTANT" for folder in folders)
