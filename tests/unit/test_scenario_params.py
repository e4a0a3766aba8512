"""Scenario parameters: types from DEFAULTS, ranges from PARAMS, checked before a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvs_sim.cli import main
from kvs_sim.scenario import ParamSpec, ScenarioError, check_param, load_scenario

SCENARIOS = Path(__file__).parents[2] / "scenarios"

TYPED = '''"""Parameters typed by their defaults only (no PARAMS)."""
CLAIMS = ("read-your-writes",)
DEFAULTS = {"n": 3, "gap": 0.5, "name": "x", "on": True}
async def scenario(cluster, args):
    await cluster.handle(0).put("x", args.params["n"])
'''


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-3", "--set writers must be an integer from 1 to 10000, got -3"),
        ('"abc"', "--set writers must be an integer from 1 to 10000, got 'abc'"),
        ("abc", "got 'abc'"),
        ("2.5", "got 2.5"),
        ("true", "got True"),
        ("0", "got 0"),
    ],
)
def test_bad_values_of_a_declared_parameter_exit_2_before_the_run(
    capsys: pytest.CaptureFixture[str], value: str, expected: str
) -> None:
    code = main(["run", str(SCENARIOS / "commit_merging.py"), "--set", f"writers={value}"])
    assert code == 2
    assert expected in one_line(capsys)
    assert not Path("out").exists()  # refused before anything was written


def test_types_are_inferred_from_defaults_without_params(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typed.py"
    path.write_text(TYPED)
    s = load_scenario(path)
    assert {k: p.type for k, p in s.params.items()} == {
        "n": "int",
        "gap": "float",
        "name": "str",
        "on": "bool",
    }
    for bad, word in (("n=x", "an integer"), ("gap=[1]", "a number"), ("on=1", "true or false")):
        assert main(["run", str(path), "--set", bad]) == 2
        assert word in one_line(capsys)
    assert main(["run", str(path), "--set", "gap=2", "--set", "n=4", "--no-plots"]) == 0


def test_a_float_parameter_takes_an_int_and_nan_is_refused() -> None:
    spec = ParamSpec("gap", "float", 0.5, min=0.0)
    check_param(spec, 2)
    with pytest.raises(ValueError, match="gap must be a number >= 0"):
        check_param(spec, float("nan"))
    with pytest.raises(ValueError, match="gap must be a number >= 0, got -1"):
        check_param(spec, -1)


def test_choices() -> None:
    s = load_scenario(SCENARIOS / "causal_handoff.py")
    with pytest.raises(ValueError, match="handoff must be one of 'none', 'reported'"):
        check_param(s.params["handoff"], "later")
    assert "handoff: one of" in s.params["handoff"].describe()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ('{"nope": {"min": 1}}', "PARAMS names 'nope', which is not a parameter in DEFAULTS"),
        ('{"n": {"low": 1}}', "PARAMS['n'] must be a dict with keys among"),
        ('{"n": {"min": "1"}}', "PARAMS['n']['min'] must be a number"),
        ('{"n": {"min": 5}}', "n must be an integer >= 5, got 3"),
        ('{"n": {"choices": []}}', "PARAMS['n']['choices'] must be a non-empty list"),
        ('{"n": {"type": "complex"}}', "PARAMS['n']['type'] must be one of"),
        ("[1]", "PARAMS must be a dict"),
    ],
)
def test_a_malformed_params_is_a_scenario_error(tmp_path: Path, params: str, expected: str) -> None:
    path = tmp_path / "p.py"
    path.write_text(TYPED + f"PARAMS = {params}\n")
    with pytest.raises(ScenarioError, match=expected.replace("[", r"\[").replace("(", r"\(")):
        load_scenario(path)


def test_every_scenario_declares_a_range_for_each_numeric_parameter() -> None:
    for path in sorted(SCENARIOS.glob("*.py")):
        s = load_scenario(path)
        for spec in s.params.values():
            if spec.type in ("int", "float") and spec.choices is None:
                assert spec.min is not None, f"{path.name}: {spec.name} has no min"
            assert spec.help, f"{path.name}: {spec.name} has no help"
