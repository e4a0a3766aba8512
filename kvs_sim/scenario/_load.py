"""Loading a scenario file, and the options of each of its variants.

Theory of operation
-------------------
:func:`load_scenario` imports the file as a fresh module (under a unique name,
removed from ``sys.modules`` afterwards, so two loads never share state) and
validates what it declares: a ``scenario`` function, ``CLAIMS``, ``DEFAULTS``,
``PARAMS``, ``MIN_SIZE``, ``VARIANTS``.  Anything that makes it unusable is a
:class:`ScenarioError` whose message is one line naming the file and the reason.
:func:`variant_options` merges the options of one variant in order of
precedence (built-ins < ``DEFAULTS`` < command line < variant) and checks the
result, cluster options and scenario parameters alike.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvs_sim.checks import claim_error
from kvs_sim.scenario._params import (
    CLUSTER_OPTIONS,
    ParamSpec,
    check_options,
    check_params,
    param_specs,
)

_modules = itertools.count()


class ScenarioError(Exception):
    """The scenario cannot be run: missing file, not Python, no ``scenario``
    function, bad ``CLAIMS``/``DEFAULTS``/``PARAMS``/``VARIANTS``, or an option or
    parameter out of range.  The message is one line meant for the user."""


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario file."""

    path: Path
    name: str
    doc: str
    claims: tuple[str, ...]
    defaults: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    min_size: int
    fn: Callable[..., Any]
    params: dict[str, ParamSpec] = field(default_factory=dict)
    """Every scenario parameter (DEFAULTS' and the variants' non-cluster keys)."""
    nemeses: tuple[Any, ...] = ()
    """The faults the scenario's ``NEMESES`` schedules (``kvs_sim.nemesis``)."""

    @property
    def title(self) -> str:
        """The docstring's first line."""
        return self.doc.strip().splitlines()[0].strip() if self.doc.strip() else self.name

    @property
    def settable(self) -> list[str]:
        """Parameters the command line may set: the non-cluster keys of DEFAULTS."""
        return sorted(k for k in self.defaults if k not in CLUSTER_OPTIONS)


def load_scenario(path: str | Path) -> Scenario:
    """Import and validate a scenario file; :class:`ScenarioError` if unusable."""
    p = Path(path)
    if not p.exists():
        raise ScenarioError(f"{path}: no such file")
    if p.is_dir():
        raise ScenarioError(f"{path}: is a directory, not a scenario file")
    if p.suffix != ".py":
        raise ScenarioError(f"{path}: not a Python file (a scenario is a .py file)")
    modname = f"kvs_sim_scenario_{next(_modules)}_{p.stem}"
    spec = importlib.util.spec_from_file_location(modname, p)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ScenarioError(f"{path}: not valid Python: {e.msg} (line {e.lineno})") from None
    except Exception as e:
        raise ScenarioError(f"{path}: failed to import: {own_line(e, p)}") from None
    finally:
        sys.modules.pop(modname, None)
    fn = getattr(module, "scenario", None)
    if not callable(fn):
        raise ScenarioError(f"{path}: defines no scenario(cluster, args) function")
    claims = _claims(path, getattr(module, "CLAIMS", None), "CLAIMS")
    defaults = _options(path, getattr(module, "DEFAULTS", {}), "DEFAULTS")
    variants_raw = getattr(module, "VARIANTS", None)
    variants: dict[str, dict[str, Any]] = {}
    if variants_raw is not None:
        if not isinstance(variants_raw, Mapping) or not variants_raw:
            raise ScenarioError(f"{path}: VARIANTS must be a non-empty dict of name -> overrides")
        for vname, raw in variants_raw.items():
            if not isinstance(vname, str) or not vname or "/" in vname:
                raise ScenarioError(f"{path}: bad variant name {vname!r}")
            over = _options(path, raw, f"VARIANTS[{vname!r}]")
            if "claims" in over:
                over["claims"] = _claims(path, over["claims"], f"VARIANTS[{vname!r}]['claims']")
            variants[vname] = over
    try:
        specs = param_specs(defaults, variants, getattr(module, "PARAMS", None))
        check_params(specs, defaults)
        for vname, over in variants.items():
            try:
                check_params(specs, over)
            except ValueError as e:
                raise ValueError(f"VARIANTS[{vname!r}]: {e}") from None
    except ValueError as e:
        raise ScenarioError(f"{path}: {e}") from None
    min_size = getattr(module, "MIN_SIZE", 1)
    if not isinstance(min_size, int) or min_size < 1:
        raise ScenarioError(f"{path}: MIN_SIZE must be an integer >= 1, got {min_size!r}")
    nemeses = _nemeses(path, getattr(module, "NEMESES", ()))
    return Scenario(
        path=p,
        name=p.stem,
        doc=inspect.getdoc(module) or "",
        claims=claims,
        defaults=defaults,
        variants=variants,
        min_size=min_size,
        fn=fn,
        params=specs,
        nemeses=nemeses,
    )


def _nemeses(path: str | Path, value: Any) -> tuple[Any, ...]:
    """``NEMESES``: a list of ``kvs_sim.nemesis.at(...)`` entries or dicts."""
    from kvs_sim.nemesis import from_spec

    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ScenarioError(f"{path}: NEMESES must be a list of nemeses, not {value!r}")
    try:
        return tuple(from_spec(e) for e in value)
    except ValueError as e:
        raise ScenarioError(f"{path}: NEMESES: {e}") from None


def _claims(path: str | Path, value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        raise ScenarioError(f"{path}: defines no {what} (the guarantees that must hold)")
    if isinstance(value, str) or not all(isinstance(c, str) for c in value):
        raise ScenarioError(f"{path}: {what} must be a list of guarantee names")
    for c in value:
        why = claim_error(c)
        if why is not None:
            raise ScenarioError(f"{path}: {what}: {why}")
    return tuple(value)


def _options(path: str | Path, value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ScenarioError(f"{path}: {what} must be a dict with string keys")
    out = dict(value)
    try:
        check_options({k: v for k, v in out.items() if k in CLUSTER_OPTIONS})
    except ValueError as e:
        raise ScenarioError(f"{path}: {what}: {e}") from None
    return out


def variant_options(
    scenario: Scenario, cli: Mapping[str, Any], variant: str | None
) -> tuple[dict[str, Any], list[str]]:
    """Options for one variant: built-ins < DEFAULTS < command line < variant.

    Returns the options and the command-line options the variant overrode."""
    opts = {**CLUSTER_OPTIONS, **scenario.defaults}
    given = {k: v for k, v in cli.items() if v is not None}
    opts.update(given)
    over = scenario.variants.get(variant, {}) if variant is not None else {}
    overridden = [k for k in over if k in given and given[k] != over[k]]
    opts.update({k: v for k, v in over.items() if k != "claims"})
    try:
        check_options(opts)
        check_params(scenario.params, opts)
    except ValueError as e:
        raise ScenarioError(f"{scenario.path}: {e}") from None
    if opts["size"] < scenario.min_size:
        raise ScenarioError(
            f"{scenario.name} needs --size >= {scenario.min_size}, got {opts['size']}"
        )
    return opts, overridden


def own_line(exc: BaseException, path: Path) -> str:
    """``ValueError: boom (line 12: raise ValueError("boom"))``: the exception and
    the deepest line of ``path`` in its traceback."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    target = path.resolve()
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == target
    ]
    if not frames:
        return text
    last = frames[-1]
    code = f": {last.line.strip()}" if last.line else ""
    return f"{text} (line {last.lineno}{code})"
