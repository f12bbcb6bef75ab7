"""The agency's object store, seen as one small contract: put, head, download.

Why a wrapper over boto3: the rest of the dock must never reason about S3 wire details. A
copy counts only when the store itself answers with the SHA-256 we know and a COMPLIANCE lock
until the retention date; this module turns whatever the store says into a CentralObject or a
CentralStoreError, one line a person can act on.

Keys are `objects/<sha256>`, the same content address as the local store. Large files go up
in parts with a SHA-256 per part (ChecksumAlgorithm="SHA256"); the store then reports a
composite checksum ("<base64>-<n>", the SHA-256 of the concatenated part digests), which is
what `CentralObject.checksum_sha256` holds for a multipart object and what `part_checksums`
lets the caller recompute from the local bytes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import os
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dock.errors import DockError

if TYPE_CHECKING:
    from dock.config import CentralSettings

KEY_PREFIX = "objects/"
CHUNK_BYTES = 1024 * 1024
# Parts in flight at once: boto3's TransferConfig().max_concurrency, what upload_file uses.
CONCURRENCY = 10


class CentralStoreError(DockError):
    """The object store is down, refused a request, or answered something we cannot trust."""


class CentralStoreUnreachable(CentralStoreError):
    """No answer at all (network, DNS, TLS, time-out): the copy waits and is retried."""


class CentralObjectRefused(CentralStoreError):
    """The store answered, but its copy is not one we may count (checksum, lock, missing)."""


class LocalBytesMismatch(CentralStoreError):
    """The local file read for an upload does not hash to its name: no copy was completed."""


class CentralRequestRefused(CentralStoreError):
    """The store answered a request with an error code (kept in `code`, to branch on)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def is_lock_refused(self) -> bool:
        """The store will not take the COMPLIANCE lock (a bucket without object lock)."""
        return "ObjectLock" in self.code or self.code in ("InvalidRequest", "InvalidBucketState")


@dataclass(frozen=True)
class CentralObject:
    """What the store says it holds under one key."""

    sha256: str
    size: int
    checksum_sha256: str  # hex for a single-part object; "<hex>-<parts>" for a multipart one
    retain_until: datetime.datetime | None
    lock_mode: str | None
    version_id: str | None = None

    @property
    def is_multipart(self) -> bool:
        return "-" in self.checksum_sha256


@dataclass(frozen=True)
class UploadProgress:
    """A multipart upload in flight: persisted by the caller so a restart continues it."""

    upload_id: str
    part_size: int
    done_parts: tuple[tuple[int, str], ...]  # (part number, base64 part SHA-256)


def object_key(sha256: str) -> str:
    return KEY_PREFIX + sha256


def b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


def composite_checksum(part_digests: list[bytes]) -> str:
    """The S3 composite checksum of a multipart object, as "<hex>-<parts>"."""
    joined = hashlib.sha256(b"".join(part_digests)).hexdigest()
    return f"{joined}-{len(part_digests)}"


def part_checksums(path: Path, part_size: int) -> list[bytes]:
    """The SHA-256 of each part of a local file, to recompute a composite checksum."""
    digests: list[bytes] = []
    with open(path, "rb") as f:
        while True:
            block = f.read(part_size)
            if not block:
                break
            digests.append(hashlib.sha256(block).digest())
    return digests or [hashlib.sha256(b"").digest()]


def central_from_settings(central: CentralSettings) -> CentralStore | None:
    """The one CentralStore built from [central], or None when endpoint_url is "" (off).

    Used by the replicator, `dock store verify`'s repairs and the re-check before a recorder
    delete, so all three reach the same store the same way (secret file, TLS CA bundle)."""
    from dock.errors import ConfigError

    if not central.endpoint_url:
        return None
    secret = ""
    if central.secret_access_key_file:
        secret_path = Path(central.secret_access_key_file).expanduser()
        try:
            secret = secret_path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(
                f"config: central.secret_access_key_file = {str(secret_path)!r}: cannot read "
                f"it ({err.strerror}); write the secret access key alone into that file (0600)"
            ) from None
    ca_bundle = Path(central.ca_bundle).expanduser() if central.ca_bundle else None
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ConfigError(
            f"config: central.ca_bundle = {str(ca_bundle)!r}: no such file; give the PEM file "
            "of the CA that signed the object store's certificate, or \"\" for the system's CAs"
        )
    return CentralStore(
        endpoint_url=central.endpoint_url,
        bucket=central.bucket,
        region=central.region,
        access_key_id=central.access_key_id,
        secret_access_key=secret,
        ca_bundle=ca_bundle,
        part_size_bytes=central.part_size_mib * 1024 * 1024,
    )


def _client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class CentralStore:
    """A bucket with object lock, reached with the dock's own credentials."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        ca_bundle: Path | None = None,
        part_size_bytes: int = 16 * 1024 * 1024,
        timeout_s: float = 30.0,
        client: Any = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.part_size_bytes = part_size_bytes
        self.endpoint_url = endpoint_url
        self._client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            verify=str(ca_bundle) if ca_bundle else None,
            config=Config(
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=timeout_s,
                read_timeout=timeout_s,
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    # -- calls that turn boto3's failures into ours ---------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = _client_error_code(exc)
            raise CentralRequestRefused(
                code,
                f"Central store {self.endpoint_url} refused {what} ({code or exc}); "
                "check the bucket, its object lock and the dock's credentials.",
            ) from None
        except (BotoCoreError, OSError) as exc:
            raise CentralStoreUnreachable(
                f"Central store {self.endpoint_url} unreachable during {what} "
                f"({type(exc).__name__}); the copy waits and is retried."
            ) from None

    # -- the contract ---------------------------------------------------------------------------

    def head(self, sha256: str) -> CentralObject | None:
        """What the store holds under objects/<sha256>, or None when it holds nothing."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.head_object(
                Bucket=self.bucket, Key=object_key(sha256), ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if _client_error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise CentralStoreError(
                f"Central store {self.endpoint_url} refused HEAD of {sha256[:12]} "
                f"({_client_error_code(exc)}); check the dock's credentials."
            ) from None
        except (BotoCoreError, OSError) as exc:
            raise CentralStoreUnreachable(
                f"Central store {self.endpoint_url} unreachable ({type(exc).__name__}); "
                "the copy waits and is retried."
            ) from None
        return _central_object(sha256, answer)

    def put(
        self,
        sha256: str,
        path: Path,
        metadata: Mapping[str, str],
        retain_until: datetime.datetime,
        *,
        progress: UploadProgress | None = None,
        on_progress: Callable[[UploadProgress], None] | None = None,
        read_gate: Callable[[int], None] | None = None,
        in_flight: Callable[[], int] = lambda: CONCURRENCY,
    ) -> tuple[CentralObject, str]:
        """Upload one file with its SHA-256 and a COMPLIANCE lock until retain_until.

        The file is read once: while it is read it is hashed against its name (a local file
        that no longer matches raises LocalBytesMismatch before anything is completed) and
        each part's ChecksumSHA256 is computed for the store to check. A file up to
        part_size_bytes goes in one PUT; a larger one in parts, CONCURRENCY of them in flight
        like boto3's upload_file. `progress` resumes an upload a restart left half done,
        `on_progress` is called after every part so the caller can persist it, `read_gate`
        with each block's size before it is read (the replicator's throttle), `in_flight` how
        many parts may be in flight now (fewer threads while an offload needs the CPU).
        Returns what HEAD says afterwards and the checksum the dock computed while sending
        (hex, or "<hex>-<parts>"); the caller decides whether the copy counts.
        """
        size = path.stat().st_size
        meta = {k: str(v) for k, v in metadata.items()}
        lock = {
            "ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": retain_until.astimezone(datetime.UTC),
        }
        if size <= self.part_size_bytes and progress is None:
            with open(path, "rb") as f:
                body = _read_gated(f, size, read_gate)
            digest = hashlib.sha256(body)
            if digest.hexdigest() != sha256:
                raise LocalBytesMismatch(_mismatch_text(sha256, digest.hexdigest()))
            self._call(
                f"PUT of {sha256[:12]}",
                self._client.put_object,
                Bucket=self.bucket,
                Key=object_key(sha256),
                Body=body,
                ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
                Metadata=meta,
                **lock,
            )
            sent = sha256
        else:
            sent = self._put_multipart(
                sha256, path, size, meta, lock, progress, on_progress, read_gate, in_flight
            )
        found = self.head(sha256)
        if found is None:
            raise CentralObjectRefused(
                f"Central store {self.endpoint_url} lost {sha256[:12]} right after the upload; "
                "the copy is not counted and will be retried."
            )
        return found, sent

    def _put_multipart(
        self,
        sha256: str,
        path: Path,
        size: int,
        meta: dict[str, str],
        lock: dict[str, Any],
        progress: UploadProgress | None,
        on_progress: Callable[[UploadProgress], None] | None,
        read_gate: Callable[[int], None] | None,
        in_flight: Callable[[], int],
    ) -> str:
        """Parts read in order here (hashing the whole file), sent by a pool; the composite."""
        key = object_key(sha256)
        if progress is None or not self._upload_exists(key, progress.upload_id):
            answer = self._call(
                f"multipart start of {sha256[:12]}",
                self._client.create_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                Metadata=meta,
                ChecksumAlgorithm="SHA256",
                **lock,
            )
            progress = UploadProgress(answer["UploadId"], self.part_size_bytes, ())
            if on_progress:
                on_progress(progress)
        upload_id, part_size = progress.upload_id, progress.part_size
        done = dict(progress.done_parts)
        count = max(1, -(-size // part_size))
        whole = hashlib.sha256()
        digests: dict[int, bytes] = {}

        def send(number: int, body: bytes) -> tuple[int, bytes]:
            digest = hashlib.sha256(body).digest()  # in the pool: hashlib lets the GIL go
            self._call(
                f"part {number} of {sha256[:12]}",
                self._client.upload_part,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ChecksumSHA256=base64.b64encode(digest).decode(),
            )
            return number, digest

        def settle(finished: set[Future[tuple[int, bytes]]]) -> None:
            """Record every part that went in, then raise the first failure, if any."""
            failed = [f.exception() for f in finished if f.exception() is not None]
            for future in finished:
                if future.exception() is None:
                    number, digest = future.result()
                    digests[number] = digest
                    done[number] = base64.b64encode(digest).decode()
            if on_progress and len(failed) < len(finished):
                on_progress(UploadProgress(upload_id, part_size, tuple(sorted(done.items()))))
            if failed:
                raise failed[0]  # type: ignore[misc]

        with open(path, "rb") as f, ThreadPoolExecutor(CONCURRENCY) as pool:
            flying: set[Future[tuple[int, bytes]]] = set()
            try:
                for number in range(1, count + 1):
                    length = min(part_size, size - (number - 1) * part_size)
                    body = _read_gated(f, length, None if number in done else read_gate)
                    whole.update(body)
                    if number in done:
                        digest = hashlib.sha256(body).digest()
                        if done[number] == base64.b64encode(digest).decode():
                            digests[number] = digest  # sent before a restart, same bytes
                            continue
                        del done[number]
                    while len(flying) >= max(1, min(CONCURRENCY, in_flight())):
                        finished, flying = wait(flying, return_when=FIRST_COMPLETED)
                        settle(finished)
                    flying.add(pool.submit(send, number, body))
                settle(wait(flying).done)
                flying = set()
            finally:
                for future in flying:
                    future.cancel()
        if whole.hexdigest() != sha256:
            self.abort(sha256, upload_id)
            raise LocalBytesMismatch(_mismatch_text(sha256, whole.hexdigest()))
        parts = self._listed_parts(key, upload_id)
        self._call(
            f"multipart completion of {sha256[:12]}",
            self._client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": n, "ETag": parts[n], "ChecksumSHA256": done[n]}
                    for n in sorted(done)
                ]
            },
        )
        return composite_checksum([digests[n] for n in sorted(digests)])

    def _upload_exists(self, key: str, upload_id: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError:
            return False
        return True

    def _listed_parts(self, key: str, upload_id: str) -> dict[int, str]:
        """ETags of the parts the store holds, which completion must name."""
        found: dict[int, str] = {}
        marker = 0
        while True:
            answer = self._call(
                "list of parts",
                self._client.list_parts,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumberMarker=marker,
            )
            for part in answer.get("Parts", []):
                found[int(part["PartNumber"])] = part["ETag"]
            if not answer.get("IsTruncated"):
                return found
            marker = int(answer["NextPartNumberMarker"])

    def set_legal_hold(self, sha256: str, *, is_on: bool) -> None:
        """A held clip's central copy refuses deletion whatever its retain-until."""
        self._call(
            f"legal hold of {sha256[:12]}",
            self._client.put_object_legal_hold,
            Bucket=self.bucket,
            Key=object_key(sha256),
            LegalHold={"Status": "ON" if is_on else "OFF"},
        )

    def extend_retention(self, sha256: str, retain_until: datetime.datetime) -> None:
        """Move the COMPLIANCE retain-until later (a store refuses to move it earlier)."""
        self._call(
            f"retention of {sha256[:12]}",
            self._client.put_object_retention,
            Bucket=self.bucket,
            Key=object_key(sha256),
            Retention={
                "Mode": "COMPLIANCE",
                "RetainUntilDate": retain_until.astimezone(datetime.UTC),
            },
        )

    def abort(self, sha256: str, upload_id: str) -> None:
        """Drop a half upload (a local object whose bytes no longer match its name)."""
        from botocore.exceptions import BotoCoreError, ClientError

        with contextlib.suppress(ClientError, BotoCoreError, OSError):
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=object_key(sha256), UploadId=upload_id
            )

    def download(self, sha256: str, dest_path: Path) -> int:
        """Fetch objects/<sha256> into dest_path, checking the SHA-256 while writing.

        Writes to a temporary name first and renames only a verified file, so a caller never
        finds a wrong copy under dest_path. Returns the byte count.
        """
        answer = self._call(
            f"GET of {sha256[:12]}",
            self._client.get_object,
            Bucket=self.bucket,
            Key=object_key(sha256),
        )
        digest = hashlib.sha256()
        tmp = dest_path.with_name(dest_path.name + ".part")
        size = 0
        try:
            with open(tmp, "wb") as f:
                for block in answer["Body"].iter_chunks(CHUNK_BYTES):
                    digest.update(block)
                    f.write(block)
                    size += len(block)
                f.flush()
                os.fsync(f.fileno())
            if digest.hexdigest() != sha256:
                raise CentralObjectRefused(
                    f"Central store returned bytes for {sha256[:12]} whose SHA-256 is "
                    f"{digest.hexdigest()[:12]}; its copy is damaged, use another."
                )
            os.replace(tmp, dest_path)
        except OSError as exc:
            raise CentralStoreError(
                f"Download of {sha256[:12]} broke off ({type(exc).__name__}); try again."
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        return size


def _read_gated(f: BinaryIO, length: int, gate: Callable[[int], None] | None) -> bytes:
    """`length` bytes from f's position; with a gate, asked block by block (the throttle)."""
    if gate is None:
        return f.read(length)
    chunks: list[bytes] = []
    remaining = length
    while remaining > 0:
        want = min(CHUNK_BYTES, remaining)
        gate(want)
        block = f.read(want)
        if not block:
            break
        chunks.append(block)
        remaining -= len(block)
    return b"".join(chunks)


def _mismatch_text(sha256: str, actual: str) -> str:
    return (
        f"Local object {sha256[:12]} now hashes to {actual[:12]}; nothing was uploaded. "
        "Run `dock store verify` to find and repair it."
    )


def _central_object(sha256: str, answer: Mapping[str, Any]) -> CentralObject:
    raw = str(answer.get("ChecksumSHA256") or "")
    checksum = ""
    if raw:
        b64, _, parts = raw.partition("-")
        try:
            checksum = b64_to_hex(b64) + (f"-{parts}" if parts else "")
        except (binascii.Error, ValueError):
            checksum = ""
    retain = answer.get("ObjectLockRetainUntilDate")
    if isinstance(retain, datetime.datetime) and retain.tzinfo is None:
        retain = retain.replace(tzinfo=datetime.UTC)
    return CentralObject(
        sha256=sha256,
        size=int(answer.get("ContentLength", 0)),
        checksum_sha256=checksum,
        retain_until=retain if isinstance(retain, datetime.datetime) else None,
        lock_mode=answer.get("ObjectLockMode"),
        version_id=answer.get("VersionId"),
    )
