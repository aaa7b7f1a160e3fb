"""The one retry policy: what it retries, when it gives up, and that writers use it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from assay.errors import ConcurrentWriteError, UsageError
from assay.retry import retry
from assay.store.catalog import RunInfo, open_catalog

SRC = Path(__file__).resolve().parents[1] / "src" / "assay"


def integrity_error(n: int) -> sa_exc.IntegrityError:
    """What SQLAlchemy raises when a racing writer took a number: several lines of text."""
    return sa_exc.IntegrityError(
        "INSERT INTO t (n) VALUES (?)", (n,), Exception(f"UNIQUE constraint failed: t.n (try {n})")
    )


def test_named_errors_are_retried_until_the_call_succeeds() -> None:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(len(calls) + 1)
        if len(calls) < 4:
            raise integrity_error(len(calls))
        return "done"

    assert retry(attempt, on=(sa_exc.IntegrityError,), what="w", budget=60) == "done"
    assert calls == [1, 2, 3, 4]


def test_other_errors_propagate_at_once_unchanged() -> None:
    calls = 0
    wrong = UsageError("param 'lr' is already 0.1")

    def attempt() -> None:
        nonlocal calls
        calls += 1
        raise wrong

    with pytest.raises(UsageError) as caught:
        retry(attempt, on=(sa_exc.IntegrityError, ConcurrentWriteError), what="w", budget=60)
    assert caught.value is wrong
    assert calls == 1


def test_a_subclass_of_a_named_error_is_retried() -> None:
    calls = 0

    def attempt() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sa_exc.IntegrityError("x", None, Exception("taken"))
        return calls

    assert retry(attempt, on=(sa_exc.DatabaseError,), what="w", budget=60) == 2


def test_gives_up_at_the_budget_with_the_last_error_on_one_line() -> None:
    calls = 0

    def attempt() -> None:
        nonlocal calls
        calls += 1
        raise integrity_error(calls)

    with pytest.raises(ConcurrentWriteError) as caught:
        retry(attempt, on=(sa_exc.IntegrityError,), what="model 'm' is busy", budget=0.2)
    message = str(caught.value)
    assert "\n" not in message
    assert calls > 1  # it did retry within the budget
    assert message.startswith(f"model 'm' is busy: gave up after {calls} attempts in ")
    # The last error's first line (not the first error's, and not its SQL).
    assert f"UNIQUE constraint failed: t.n (try {calls})" in message
    assert "INSERT" not in message
    assert message.endswith("; run the command again")
    assert caught.value.exit_code == 75


def test_a_zero_budget_tries_once() -> None:
    calls = 0

    def attempt() -> None:
        nonlocal calls
        calls += 1
        raise ConcurrentWriteError("another writer committed first")

    with pytest.raises(ConcurrentWriteError, match="gave up after 1 attempts"):
        retry(attempt, on=(ConcurrentWriteError,), what="d", budget=0)
    assert calls == 1


# -- every writer goes through it ----------------------------------------------------

_TRANSIENT = {"IntegrityError", "ConcurrentWriteError", "DatabaseError", "OperationalError"}


def _handled(handler: ast.ExceptHandler) -> set[str]:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "") for n in names}


def test_no_writer_keeps_a_retry_loop_of_its_own() -> None:
    """A loop that catches a transient write error, or a sleep, lives in retry.py only."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "retry.py" or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(SRC)
        for loop in (n for n in ast.walk(tree) if isinstance(n, ast.For | ast.While)):
            for node in ast.walk(loop):
                if isinstance(node, ast.ExceptHandler) and node.type is not None:
                    caught = _handled(node) & _TRANSIENT
                    if caught:
                        found.append(f"{where}:{node.lineno} retries {sorted(caught)}")
        for node in ast.walk(tree):
            call = node.func if isinstance(node, ast.Call) else None
            if isinstance(call, ast.Attribute) and call.attr == "sleep":
                found.append(f"{where}:{node.lineno} sleeps")
    assert found == []


# -- a real race: two processes writing to one SQLite catalog ------------------------

_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from assay.store.catalog import ModelVersion, open_catalog

    url, run_id, me, go = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    catalog = open_catalog(url)
    print("ready", flush=True)
    while not go.exists():  # start together, so that the writers really race
        time.sleep(0.005)
    numbers = []
    for i in range(15):
        model = ModelVersion(
            name="m", version=0, flavor="sklearn", object_key=None, sha256=None, size=1,
            options={}, signature=None, source={"writer": me}, description=f"{me}-{i}",
            aliases=("latest",),
        )
        numbers.append(catalog.register_model_version(model).version)
        catalog.log_run_metrics(run_id, {"loss": float(i), f"w{me}": float(i)})
    print(json.dumps(numbers), flush=True)
    """
)


def test_two_processes_racing_on_one_sqlite_catalog_both_land_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/catalog.db"
    catalog = open_catalog(url, create=True)
    run = catalog.create_run(
        RunInfo(id="run000000001", name="fit", status="running", started_at="")
    )
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, run.id, str(w), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]
    for w in writers:
        assert w.stdout is not None and w.stdout.readline().strip() == "ready"
    go.touch()
    got = []
    for w in writers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        got.append(json.loads(out))
    # Every registration got its own number, in order within each writer.
    assert sorted(got[0] + got[1]) == list(range(1, 31))
    assert all(g == sorted(g) for g in got)
    versions = catalog.list_model_versions("m")
    assert [v.version for v in versions] == list(range(1, 31))
    assert [v.version for v in versions if v.aliases] == [max(got[0] + got[1])]
    # Every metric was kept: the compare-and-set lost no write of either writer.
    logged = catalog.get_run(run.id)
    assert sorted(h["step"] for h in logged.metric_history["loss"]) == list(range(30))
    for w in range(2):
        assert [h["value"] for h in logged.metric_history[f"w{w}"]] == [float(i) for i in range(15)]
    with catalog.engine.connect() as conn:  # the revision counted every write once
        revision = conn.execute(sa.text("SELECT revision FROM runs")).scalar()
    assert revision == 30
    catalog.close()
