"""The firmware images a technician approved for this dock, kept for the bays to use.

Why the dock checks what the recorder checks again: a forged or damaged image should stop at
the dock, in front of the technician, not in the middle of a batch of recorders. An image is
staged only when one of the agency's public keys ([firmware] public_keys) signed its
manifest and its payload has the manifest's size and SHA-256; it is checked again each time
it is read, since a file on disk can change after it was staged.

Each image lives at `<data_dir>/firmware/<sha256>.img`, named by the manifest's SHA-256 (the
hash the recorder identifies a transfer by), written as `.partial`, fsync'd, journaled, then
renamed: a dock that dies half-way leaves a `.partial`, never an image that looks staged.
Staging, a refused staging and a removal are journaled with the technician's name.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from dock import journal
from dock.errors import DockError
from dock.events import FirmwareImageRefused, FirmwareImageRemoved, FirmwareImageStaged
from dock.i18n import t
from dock.offload.store import fsync_dir
from dock.people.roles import Actor, Role, require
from firmware_bridge.firmware.update import parse_version
from firmware_bridge.image import Image, ImageError, dev_public_key, parse_image

if TYPE_CHECKING:
    from dock.clock import Clock
    from dock.config import Settings
    from dock.db.database import Database

FOLDER_NAME = "firmware"
SUFFIX = ".img"
PARTIAL_SUFFIX = ".partial"
MAX_IMAGE_BYTES = 16 * 1024 * 1024  # a recorder's slot is far smaller: refuse before reading
MIN_PREFIX = 8  # a removal names an image by at least this many hex digits of its hash


class StagingRefused(DockError):
    """An image the dock will not keep or cannot find; the message says why."""


class KeyFileError(Exception):
    """A configured public key file that holds no Ed25519 public key."""


def public_key_from(data: bytes) -> bytes:
    """The 32-byte key of a key file: raw bytes (README's openssl line) or a PEM public key."""
    if len(data) == 32:
        return data
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError("not an Ed25519 public key (32 raw bytes or a PEM public key)")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def trusted_keys(settings: Settings) -> tuple[bytes, ...]:
    return tuple(bytes.fromhex(k) for k in settings.firmware.public_keys)


def with_development_key(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The keys a simulated dock trusts: its recorders run the development firmware."""
    dev = dev_public_key().hex()
    return keys if dev in keys else (*keys, dev)


def check_image(data: bytes, keys: tuple[bytes, ...]) -> Image:
    """The image in `data` when a trusted key signed it and its payload is intact."""
    if not keys:
        raise StagingRefused(
            t("this dock trusts no firmware key: add the agency's public key to [firmware] public_keys in the config")
        )  # fmt: skip
    try:
        image = parse_image(data)
    except ImageError as err:
        raise StagingRefused(
            t("{error}; give an image made by `make firmware`", error=err)
        ) from None
    if not any(image.is_signed_by(key) for key in keys):
        raise StagingRefused(
            t("the image is not signed by any key in [firmware] public_keys (an unknown key, or a changed manifest or signature): ask for an image signed with the agency's key")
        )  # fmt: skip
    manifest = image.manifest
    if len(image.payload) != manifest["size_bytes"]:
        raise StagingRefused(
            t("the image's payload is {size} bytes, its manifest says {declared}: the file is damaged; copy it again",
              size=len(image.payload), declared=manifest["size_bytes"])
        )  # fmt: skip
    if hashlib.sha256(image.payload).digest() != image.sha256:
        raise StagingRefused(
            t("the image's payload does not match its signed SHA-256: the file was changed or damaged; copy it again from the agency")
        )  # fmt: skip
    return image


@dataclass(frozen=True)
class StagedImage:
    sha256: str  # hex, of the payload, as the manifest says
    model: str
    version: str
    min_version: str  # the oldest version it may replace
    size_bytes: int
    problem: str = ""  # why it no longer checks (changed on disk, key no longer trusted)

    @classmethod
    def of(cls, image: Image) -> StagedImage:
        m = image.manifest
        return cls(
            image.sha256.hex(), m["model"], m["version"], m["min_version"], len(image.payload)
        )

    def line(self) -> str:
        return t(
            "{model} {version} ({sha}, {size} bytes)",
            model=self.model,
            version=self.version,
            sha=self.sha256[:16],
            size=self.size_bytes,
        )


class Staging:
    """The staged images of one dock, checked against the keys it trusts."""

    def __init__(self, data_dir: Path, keys: tuple[bytes, ...]) -> None:
        self.folder = Path(data_dir) / FOLDER_NAME
        self.keys = keys

    def stage(self, path: Path, *, technician: Actor, db: Database, clock: Clock) -> StagedImage:
        """Check the image at `path` and keep it; a refusal is journaled and raised."""
        require(technician, Role.TECHNICIAN)
        data = _read(path)
        try:
            image = check_image(data, self.keys)
            self._refuse_another_with_same_payload(image, data)
        except StagingRefused as refusal:
            journal.record(
                db,
                FirmwareImageRefused(
                    file_sha256=hashlib.sha256(data).hexdigest(),
                    refused_by=technician.journal_name,
                    reason=str(refusal),
                ),
                actor=technician.journal_name,
                clock=clock,
            )
            raise
        staged = StagedImage.of(image)
        final = self.folder / (staged.sha256 + SUFFIX)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        with open(partial, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        journal.record(
            db,
            FirmwareImageStaged(
                model=staged.model,
                version=staged.version,
                image_sha256=staged.sha256,
                staged_by=technician.journal_name,
            ),
            actor=technician.journal_name,
            clock=clock,
        )
        os.replace(partial, final)
        fsync_dir(self.folder)
        return staged

    def _refuse_another_with_same_payload(self, image: Image, data: bytes) -> None:
        """One name per payload hash: a second manifest for the same payload is refused."""
        path = self.folder / (image.sha256.hex() + SUFFIX)
        if path.is_file() and path.read_bytes() != data:
            other = self._describe(path)
            raise StagingRefused(
                t("{image} is staged with the same payload under another manifest: remove it first (`dock firmware remove {sha}`)",
                  image=other.line(), sha=other.sha256[:12])
            )  # fmt: skip

    def images(self) -> list[StagedImage]:
        """Every staged image, newest version first within a model; one that no longer
        checks says why (it is never sent, and a technician may remove it)."""
        found = []
        for path in self._files():
            try:
                found.append(StagedImage.of(self.load(path.stem)))
            except StagingRefused as err:
                found.append(replace(self._describe(path), problem=str(err)))
        found.sort(key=lambda s: (s.model, parse_version(s.version) or (0,)), reverse=True)
        return found

    def find(self, prefix: str) -> StagedImage:
        """The one staged image whose hash starts with `prefix`."""
        prefix = prefix.strip().lower()
        if not re.fullmatch(f"[0-9a-f]{{{MIN_PREFIX},64}}", prefix):
            raise StagingRefused(
                t("name a staged image by at least {count} hex digits of its hash (`dock firmware list` shows them)",
                  count=MIN_PREFIX)
            )  # fmt: skip
        matches = [p.stem for p in self._files() if p.stem.startswith(prefix)]
        if not matches:
            raise StagingRefused(
                t("no staged image with a hash starting {prefix}: see `dock firmware list`",
                  prefix=prefix)
            )  # fmt: skip
        if len(matches) > 1:
            raise StagingRefused(
                t("{count} staged images with a hash starting {prefix}: see `dock firmware list`",
                  count=len(matches), prefix=prefix)
            )  # fmt: skip
        return self._describe(self.folder / (matches[0] + SUFFIX))

    def load(self, sha256: str) -> Image:
        """The staged image, checked again: it must still be what was staged."""
        if not re.fullmatch("[0-9a-f]{64}", sha256):
            raise StagingRefused(
                t("{value} is not an image's SHA-256 (64 hex digits)", value=repr(sha256))
            )
        path = self.folder / (sha256 + SUFFIX)
        if not path.is_file():
            raise StagingRefused(
                t("no staged image {sha}: see `dock firmware list`", sha=sha256[:16])
            )
        try:
            image = check_image(_read(path), self.keys)
        except StagingRefused as err:
            raise StagingRefused(
                t("staged image {sha}: {error}", sha=sha256[:16], error=err)
            ) from None
        if image.sha256.hex() != sha256:
            raise StagingRefused(
                t("staged image {sha} holds another image: remove it", sha=sha256[:16])
            )
        return image

    def remove(self, prefix: str, *, technician: Actor, db: Database, clock: Clock) -> StagedImage:
        """A technician takes an image off the dock; journaled before the file goes."""
        require(technician, Role.TECHNICIAN)
        staged = self.find(prefix)
        journal.record(
            db,
            FirmwareImageRemoved(
                model=staged.model,
                version=staged.version,
                image_sha256=staged.sha256,
                removed_by=technician.journal_name,
            ),
            actor=technician.journal_name,
            clock=clock,
        )
        (self.folder / (staged.sha256 + SUFFIX)).unlink()
        fsync_dir(self.folder)
        return staged

    def _describe(self, path: Path) -> StagedImage:
        """What a staged file says it is, without checking it (a removal needs no key)."""
        try:
            return replace(StagedImage.of(parse_image(_read(path))), sha256=path.stem)
        except (ImageError, StagingRefused) as err:
            return StagedImage(path.stem, "?", "?", "?", path.stat().st_size, problem=str(err))

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.endswith(SUFFIX))


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise StagingRefused(
                t("{path} is {size} bytes, more than any recorder image ({limit}): give an image made by `make firmware`",
                  path=path, size=size, limit=MAX_IMAGE_BYTES)
            )  # fmt: skip
        return path.read_bytes()
    except OSError as err:
        raise StagingRefused(
            t("cannot read {path}: {reason}", path=path, reason=err.strerror)
        ) from None


def newest(images: list[StagedImage], model: str, version: str | None = None) -> StagedImage | None:
    """The newest intact image of `images` (as Staging.images lists them) for `model`, of
    `version` when one is asked for."""
    for staged in images:
        if not staged.problem and staged.model == model and version in (None, staged.version):
            return staged
    return None
