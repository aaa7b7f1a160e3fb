"""``assay data add DATASET URL`` and ``assay check SUITE --on URL`` on a real S3 (moto)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from backends import no_credentials, s3_env

from tests_helpers import run_assay, year

SUITE = "suite: adults\nexpectations:\n  - between: {column: AGEP, min: 18, max: 99}\n"


def test_a_file_on_s3_is_added_and_checked_like_the_same_file_on_disk(
    s3_endpoint: str, s3_bucket: str, acs: pa.Table, tmp_path: Path
) -> None:
    import s3fs

    bucket = s3_bucket.rsplit("/", 1)[0]
    path = tmp_path / "y2018.parquet"
    rows = year(acs, 2018).slice(0, 2000)
    pq.write_table(rows, path)
    s3fs.S3FileSystem(skip_instance_cache=True).put_file(str(path), f"{bucket}/in/y2018.parquet")
    env = s3_env(s3_endpoint)
    assert run_assay("init", cwd=tmp_path).rc == 0
    for dataset in ("local", "remote"):
        assert run_assay("data", "create", dataset, "--key", "id", cwd=tmp_path).rc == 0

    local = run_assay("data", "add", "local", path, "--json", cwd=tmp_path).json()
    r = run_assay("data", "add", "remote", f"{bucket}/in/y2018.parquet", "--json",
                  cwd=tmp_path, env=env)  # fmt: skip
    assert r.rc == 0, r.err
    remote = r.json()
    assert remote["delta"]["id"] == local["delta"]["id"] and remote["delta"]["name"] == "y2018"
    assert remote["source"]["url"] == f"{bucket}/in/y2018.parquet"
    assert remote["source"]["bytes"] == path.stat().st_size

    (tmp_path / "adults.yaml").write_text(SUITE)
    on_disk = run_assay("check", "adults.yaml", "--on", path, "--json", cwd=tmp_path)
    on_s3 = run_assay("check", "adults.yaml", "--on", f"{bucket}/in/y2018.parquet", "--json",
                      cwd=tmp_path, env=env)  # fmt: skip
    minors = int((rows.column("AGEP").to_numpy() < 18).sum())
    assert minors > 0 and on_disk.rc == on_s3.rc == 1  # the reference: counted here
    (want,), (got,) = on_disk.json()["results"], on_s3.json()["results"]
    assert got["unexpected_count"] == want["unexpected_count"] == minors

    missing = run_assay("data", "add", "remote", f"{bucket}/in/nope.csv", cwd=tmp_path, env=env)
    assert missing.rc == 2
    assert missing.error_line() == f"error: {bucket}/in/nope.csv does not exist; check the URL"


def test_s3_without_credentials_is_one_line(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    bucket = s3_bucket.rsplit("/", 1)[0]
    env = no_credentials(s3_endpoint, tmp_path)
    assert run_assay("init", cwd=tmp_path).rc == 0
    assert run_assay("data", "create", "d", "--key", "id", cwd=tmp_path).rc == 0
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    try:
        r = run_assay("data", "add", "d", f"{bucket}/x.csv", cwd=tmp_path, env=env)
    finally:
        os.environ.update(saved)
    assert r.rc == 2
    assert r.error_line().startswith(f"error: no AWS credentials for {bucket}: set AWS_ACCESS")


def test_init_in_a_missing_bucket_refuses_and_creates_nothing(
    s3_endpoint: str, pg_database: str, tmp_path: Path
) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    before = set(fs.ls(""))
    missing = "assay-no-such-bucket-7f3a"
    env = s3_env(s3_endpoint)
    for extra in ([], ["--catalog", pg_database]):  # refused before and after the catalog
        r = run_assay("init", f"s3://{missing}/store", *extra, cwd=tmp_path, env=env)
        assert r.rc == 2, r.err
        if extra:
            assert r.error_line() == (
                f"error: the bucket s3://{missing} does not exist (or these credentials cannot "
                f"see it); create it first (for S3: `aws s3 mb s3://{missing}`) or check its name"
            )
        fs.invalidate_cache()
        assert set(fs.ls("")) == before  # no bucket was made
    # An existing bucket is used as it is.
    fs.mkdir(missing)
    made = run_assay(
        "init", f"s3://{missing}/store", "--catalog", pg_database, cwd=tmp_path, env=env
    )
    assert made.rc == 0, made.err
    fs.invalidate_cache()
    assert fs.exists(f"{missing}/store/assay.json")
