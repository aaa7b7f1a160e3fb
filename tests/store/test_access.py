"""A remote store the user cannot reach: one line naming the bucket and the fix.

The CLI runs as a subprocess against the moto S3 server, with every AWS variable
removed, an empty HOME (no ~/.aws) and the EC2 metadata lookup off, exactly as on a
laptop that was never given credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from backends import no_credentials

from assay.errors import StoreAccessError
from assay.store._access import access_error
from tests_helpers import run_assay


def run_without(env: dict[str, str], *args: object, cwd: Path) -> str:
    # run_assay starts from os.environ; what it must not inherit is removed here.
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    try:
        done = run_assay(*args, cwd=cwd, env=env)
    finally:
        os.environ.update(saved)
    assert done.rc == 2, done.err + done.out
    return done.error_line()


def test_init_and_open_without_credentials_name_the_bucket_and_the_fix(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    env = no_credentials(s3_endpoint, tmp_path)
    bucket = s3_bucket.rsplit("/", 1)[0]
    catalog = f"sqlite:///{tmp_path}/catalog.db"
    line = run_without(env, "init", s3_bucket, "--catalog", catalog, cwd=tmp_path)
    assert line == (
        f"error: no AWS credentials for {bucket}: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (a profile in ~/.aws/credentials, "
        "e.g. from `aws configure`)"
    )
    assert not (tmp_path / "catalog.db").exists()  # nothing written
    for args in (("data", "list", "--store", s3_bucket), ("verify",)):
        store_env = {**env, "ASSAY_STORE": s3_bucket}
        line = run_without(store_env, *args, cwd=tmp_path)
        assert line.startswith(f"error: no AWS credentials for {bucket}: set AWS_ACCESS_KEY_ID")


def test_a_missing_profile_is_named(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    env = {**no_credentials(s3_endpoint, tmp_path), "AWS_PROFILE": "nosuchprofile"}
    line = run_without(env, "data", "list", "--store", s3_bucket, cwd=tmp_path)
    assert "nosuchprofile" in line
    assert "set AWS_PROFILE to a profile in ~/.aws/config, or unset it" in line


def test_a_refusal_names_the_bucket() -> None:
    # s3fs turns AccessDenied, InvalidAccessKeyId and ExpiredToken into PermissionError.
    error = access_error(PermissionError(13, "Access Denied"), "s3://data-lake/teams/ml")
    assert isinstance(error, StoreAccessError) and error.exit_code == 2
    assert str(error).startswith("access to s3://data-lake was refused ([Errno 13] Access Denied)")


@pytest.mark.parametrize("url", ["/srv/store", "file:///srv/store", None])
def test_local_stores_keep_their_own_errors(url: str | None) -> None:
    assert access_error(PermissionError(13, "Permission denied"), url) is None
