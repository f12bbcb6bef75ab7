"""What the store refuses is never a copy; a person retries it; the backlog alert rises and clears."""

from __future__ import annotations

import uuid
from pathlib import Path

from typer.testing import CliRunner

from dock.cli import app
from dock.replication import records
from tests.integration.replication_setup import (
    journal_stored,
    make_replicator,
    put_local,
    rows_of,
    unreachable_store,
)
from tests.servers.seaweed import SeaweedServer, seaweed  # noqa: F401

runner = CliRunner()


def dock(tmp_path: Path, *args: str, central: str = "") -> tuple[int, str]:
    config = tmp_path / "dock.toml"
    text = f'[dock]\ndata_dir = "{tmp_path / "data"}"\n' + (
        f"[central]\n{central}\n" * bool(central)
    )
    config.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["--config", str(config), *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_a_copy_the_store_will_not_lock_is_never_counted_and_counts_after_a_fix_and_a_retry(
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    unlocked = "u" + uuid.uuid4().hex[:16]
    seaweed.client().create_bucket(Bucket=unlocked)  # no object lock: the store's mistake
    replicator, db, store = make_replicator(tmp_path, seaweed, unlocked)
    sha = put_local(store, b"evidence that must stay" * 40)
    journal_stored(db, sha, 23 * 40)

    assert replicator.run_once() == 0
    with db.transaction() as session:
        assert not records.is_replicated(session, sha)
    assert rows_of(db, "clip.replicated") == []
    assert len(rows_of(db, "replication.refused")) == 1
    code, out = dock(tmp_path, "replication", "status")
    assert code == 0 and "refused:      1" in out and "confirmed:    0" in out and sha in out

    replicator.central.bucket = seaweed.new_bucket()  # the agency fixes its store
    assert replicator.run_once() == 0  # a refused copy waits for a person, not a timer
    code, out = dock(tmp_path, "replication", "retry", "--all")
    assert code == 0 and "queued again: 1" in out
    assert [r.actor.startswith("cli:") for r in rows_of(db, "replication.retried")] == [True]
    assert replicator.run_once() == 1

    with db.transaction() as session:
        assert records.is_replicated(session, sha)
    code, out = dock(tmp_path, "replication", "status")
    assert "confirmed:    1" in out and "refused:      0" in out and "waiting:      0" in out


def test_a_retry_of_a_copy_that_is_not_refused_says_so_in_one_line(
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    replicator, db, store = make_replicator(tmp_path, seaweed, seaweed.new_bucket())
    sha = put_local(store, b"fine" * 10)
    journal_stored(db, sha, 40)
    assert replicator.run_once() == 1

    code, out = dock(tmp_path, "replication", "retry", sha)
    assert code == 1 and len(out.strip().splitlines()) == 1 and "no refused copy of" in out
    code, out = dock(tmp_path, "replication", "retry")
    assert code == 1 and "--all" in out and "Traceback" not in out
    assert rows_of(db, "replication.retried") == []


def test_the_backlog_alert_is_journaled_once_past_the_threshold_and_cleared_once_it_falls_back(
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    replicator, db, store = make_replicator(tmp_path, seaweed, "evidence", backlog_alert=2)
    real = replicator.central
    replicator.central = unreachable_store()
    for i in range(4):
        data = f"clip {i}".encode()
        journal_stored(db, put_local(store, data), len(data))
    for _ in range(2):
        replicator._check_backlog_quietly()  # what run_forever does while the store is down
    assert len(rows_of(db, "replication.backlog")) == 1
    code, out = dock(tmp_path, "replication", "status", central="backlog_alert = 2")
    assert "backlog:      4 of alert 2 - ALERT" in out

    real.bucket = seaweed.new_bucket()
    replicator.central = real  # the store is back
    assert replicator.run_once() == 4
    assert replicator.run_once() == 0

    assert len(rows_of(db, "replication.backlog")) == 1
    cleared = rows_of(db, "replication.backlog_cleared")
    assert len(cleared) == 1 and '"waiting":0' in cleared[0].data.replace(" ", "")
    restarted, _db, _store = make_replicator(tmp_path, seaweed, real.bucket, backlog_alert=2)
    restarted.run_once()  # a restart repeats neither the alert nor its clearing
    assert len(rows_of(db, "replication.backlog")) == 1
    assert len(rows_of(db, "replication.backlog_cleared")) == 1


def test_a_locked_object_with_other_bytes_under_our_name_is_never_counted_nor_replaced(
    tmp_path: Path,
    seaweed: SeaweedServer,  # noqa: F811
) -> None:
    import datetime

    bucket = seaweed.new_bucket()
    replicator, db, store = make_replicator(tmp_path, seaweed, bucket)
    sha = put_local(store, b"the true clip" * 30)
    journal_stored(db, sha, 13 * 30)
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=4000)
    seaweed.client().put_object(  # someone else's bytes, locked, under the clip's name
        Bucket=bucket, Key=f"objects/{sha}", Body=b"not the clip", ChecksumAlgorithm="SHA256",
        ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
    )  # fmt: skip

    assert replicator.run_once() == 0

    with db.transaction() as session:
        assert not records.is_replicated(session, sha)
    refused = rows_of(db, "replication.refused")
    assert len(refused) == 1 and "checksum_mismatch" in refused[0].data
    got = seaweed.client().get_object(Bucket=bucket, Key=f"objects/{sha}")["Body"].read()
    assert got == b"not the clip"  # nothing was written over a locked object
    code, out = dock(tmp_path, "replication", "status")
    assert "refused:      1" in out and "checksum_mismatch" in out


def test_a_ca_bundle_path_that_does_not_exist_is_a_one_line_config_error(tmp_path: Path) -> None:
    (tmp_path / "data" / "store" / "objects").mkdir(parents=True)
    missing = tmp_path / "no-such-ca.pem"
    code, out = dock(
        tmp_path, "store", "verify",
        central=f'endpoint_url = "https://127.0.0.1:1"\nca_bundle = "{missing}"',
    )  # fmt: skip
    assert code == 1 and "Traceback" not in out
    assert out.strip().splitlines() == [out.strip()] and "central.ca_bundle" in out
    assert str(missing) in out


def test_the_ca_bundle_is_what_boto3_verifies_the_store_with(tmp_path: Path) -> None:
    from dock.config import CentralSettings
    from dock.replication.central import central_from_settings

    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    settings = CentralSettings(endpoint_url="https://127.0.0.1:1", ca_bundle=str(bundle))
    central = central_from_settings(settings)
    assert central is not None
    assert central._client._endpoint.http_session._verify == str(bundle)
