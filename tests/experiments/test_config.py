"""Experiment configs: every problem at once, each with its field path (and line, from
YAML), and the few derived values the server and the analysis rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import ExperimentError, UsageError
from assay.experiments.config import ExperimentConfig, load_config, normalise

GOOD = """\
endpoint: employment
experiment: new-gbm-vs-lr
routes:
  - {model: employment@production, weight: 0.45, arm: control}
  - {model: employment@candidate, weight: 0.05, arm: treatment}
shadow: [employment@experimental]
sticky_key: user_id
auth: {token_env: ASSAY_TOKEN}
"""


def problems(source: object) -> list[str]:
    with pytest.raises(ExperimentError) as e:
        load_config(source)  # type: ignore[arg-type]
    return e.value.problems


def test_a_good_config_from_text_file_and_dict(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.source == str(path)
    assert (config.endpoint, config.experiment, config.sticky_key) == (
        "employment",
        "new-gbm-vs-lr",
        "user_id",
    )
    assert config.control == "control"
    # 0.45 / 0.05 are shares of 0.5: normalised to 0.9 / 0.1, in route order.
    assert list(config.weights) == ["control", "treatment"]
    assert config.weights == pytest.approx({"control": 0.9, "treatment": 0.1}, abs=1e-12)
    assert config.auth is not None and config.auth.protect_predict is False
    assert (config.limits.body_bytes, config.log.flush_rows) == (1_048_576, 1000)
    # Text and the plain data the store records read back to the same config.
    assert load_config(GOOD).to_dict() == config.to_dict()
    again = load_config(config.to_dict())
    assert again.to_dict() == config.to_dict() and again.source is None
    assert "source" not in config.to_dict()
    assert load_config(config) is config


def test_every_problem_at_once_with_its_field_path_and_line() -> None:
    found = problems(
        "endpoint: bad name\n"
        "experiment: x\n"
        "routes:\n"
        "  - {model: m@1, wieght: 0.5, arm: a}\n"
        "  - {model: m@2, weight: 1.5}\n"
        "limits: {body_bytes: 0}\n"
        "auth: {token_env: 1abc}\n"
    )
    assert sorted(found) == sorted(
        [
            "endpoint (line 1, column 11): endpoint 'bad name' must start with a letter and "
            "hold only letters, digits, '_', '.' or '-' (at most 64)",
            "routes[0].weight (line 4, column 5): missing",
            "routes[0].wieght (line 4, column 26): unknown field; remove it or check the spelling",
            "routes[1].weight (line 5, column 26): Input should be less than or equal to 1",
            "routes[1].arm (line 5, column 5): missing",
            "limits.body_bytes (line 6, column 22): Input should be greater than 0",
            "auth.token_env (line 7, column 19): '1abc' is not an environment variable name",
        ]
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"routes": []}, "routes: List should have at least 1 item"),
        ({"routes": [{"model": "m", "weight": -0.1, "arm": "a"}]}, "routes[0].weight: "),
        ({"experiment": "x/../y"}, "experiment: experiment 'x/../y' must start with a letter"),
        ({"experiment": "e" * 65}, "(at most 64)"),
        ({"shadow": "m@3"}, "shadow: Input should be a valid list"),
        ({"sticky_key": ["a"]}, "sticky_key: Input should be a valid string"),
        ({"limits": {"shadow_timeout_s": 0}}, "limits.shadow_timeout_s: Input should be greater"),
        ({"log": {"flush_rows": 0}}, "log.flush_rows: Input should be greater than 0"),
        ({"auth": {}}, "auth.token_env: missing"),
        ({"colour": "red"}, "colour: unknown field; remove it or check the spelling"),
        ({"routes": [{"model": "m", "weight": 1, "arm": "9a"}]}, "routes[0].arm: arm '9a'"),
    ],
)
def test_each_bad_field_is_named(change: dict[str, object], expected: str) -> None:
    data = {"endpoint": "e", "experiment": "x", "routes": [{"model": "m", "weight": 1, "arm": "a"}]}
    (found,) = problems({**data, **change})
    assert found.startswith(expected) or expected in found, found


def test_missing_top_level_fields_and_not_a_mapping() -> None:
    assert sorted(problems({"routes": [{"model": "m", "weight": 1, "arm": "a"}]})) == [
        "endpoint: missing",
        "experiment: missing",
    ]
    assert problems("- a\n- b\n") == [
        "expected a mapping with `endpoint`, `experiment` and `routes`"
    ]
    with pytest.raises(ExperimentError, match=r"experiment config nope\.yaml: the file does not"):
        load_config("nope.yaml")


def test_yaml_booleans_are_named_not_taken() -> None:
    base = "endpoint: e\nexperiment: x\nroutes:\n"
    # An arm called `on` or `no` is read by YAML 1.1 as a boolean: say so, with the fix.
    (found,) = problems(base + "  - {model: m@1, weight: 1, arm: on}\n")
    assert found == (
        "routes[0].arm (line 4, column 34): on was read as a boolean (YAML 1.1 reads "
        "unquoted yes, no, on and off so); put it in quotes"
    )
    assert load_config(base + "  - {model: m@1, weight: 1, arm: 'on'}\n").control == "on"
    (found,) = problems(base + "  - {model: m@1, weight: 1, arm: a}\nsticky_key: NO\n")
    assert found.startswith("sticky_key (line 5, column 13): NO was read as a boolean")
    # A boolean where a weight goes would be taken for 1.0 or 0.0 by pydantic.
    (found,) = problems(base + "  - {model: m@1, weight: yes, arm: a}\n")
    assert (
        found
        == "routes[0].weight (line 4, column 26): a weight is a number from 0 to 1, not a boolean"
    )
    # Where a boolean is meant, YAML's spellings of it are fine.
    config = load_config(
        base + "  - {model: m@1, weight: 1, arm: a}\nauth: {token_env: T, protect_predict: yes}\n"
    )
    assert config.auth is not None and config.auth.protect_predict is True


def test_a_key_written_twice_is_refused_with_its_line() -> None:
    (found,) = problems("endpoint: e\nendpoint: f\nexperiment: x\nroutes: []\n")
    assert found == (
        "line 2, column 1: key 'endpoint' is written twice in one mapping (first on line 1); "
        "keep one"
    )


def test_duplicate_arms_and_all_zero_weights() -> None:
    routes = [{"model": "m@1", "weight": 0.5, "arm": "a"}, {"model": "m@2", "weight": 0.5}]
    data = {"endpoint": "e", "experiment": "x"}
    assert problems({**data, "routes": [routes[0], {**routes[1], "arm": "a"}]}) == [
        "config: arm 'a' is named twice; give each route its own arm"
    ]
    zero = [{**routes[0], "weight": 0}, {**routes[1], "weight": 0, "arm": "b"}]
    assert problems({**data, "routes": zero}) == [
        "config: every route has weight 0; give at least one a positive weight"
    ]
    # One arm at 0 is a stopped arm, not an error.
    config = load_config({**data, "routes": [zero[0], {**routes[1], "arm": "b"}]})
    assert config.weights == {"a": 0.0, "b": 1.0} and config.control == "a"


def test_the_message_is_one_line_per_problem_under_the_label(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("endpoint: e\nexperiment: x\nroutes: []\n")
    with pytest.raises(ExperimentError) as e:
        load_config(path)
    assert str(e.value) == (
        f"experiment config {path}: routes (line 3, column 9): List should have at least 1 "
        "item after validation, not 0"
    )
    assert isinstance(e.value, UsageError) and e.value.exit_code == 2


def test_normalise() -> None:
    assert normalise({"a": 3.0, "b": 1.0}) == {"a": 0.75, "b": 0.25}
    assert list(normalise({"z": 1.0, "a": 1.0})) == ["z", "a"]  # order kept: routing needs it
    for bad in ({"a": 0.0}, {"a": -1.0, "b": 2.0}, {"a": float("nan"), "b": 1.0}):
        with pytest.raises(ExperimentError, match="must be finite, non-negative"):
            normalise(bad)
    with pytest.raises(ExperimentError):
        normalise({"a": float("inf")})


def test_configs_are_frozen() -> None:
    config = load_config(GOOD)
    with pytest.raises(ValueError, match="frozen"):
        config.endpoint = "other"  # type: ignore[misc]
    assert isinstance(config, ExperimentConfig)
