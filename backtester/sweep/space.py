"""What a sweep runs: a grid or a random space of parameters, routed to the strategy, the
config or the scenario, expanded into :class:`RunSpec` objects with stable run ids.

Names
-----
A name of the grid (or of a :class:`RandomSpace`) is

* a parameter of the strategy class (``fast``, ``leverage``), passed to its constructor;
* a field of :class:`~backtester.SimConfig` (``margin_mode``, ``slippage_multiplier``,
  ``latency_scale``, ...), applied with ``SimConfig.with_`` before the scenario;
* ``"scenario"``: :class:`~backtester.scenarios.Scenario` objects (or pass ``scenarios=``).

A name that is both a strategy parameter and a config field must say which it means:
``"strategy.<name>"`` or ``"config.<name>"``.

Examples
--------
>>> from strategies import MaCross
>>> runs = expand(MaCross, {"fast": [5, 10], "slow": [50]})
>>> [r.strategy_params for r in runs.runs]
[{'fast': 5, 'slow': 50}, {'fast': 10, 'slow': 50}]
"""
from __future__ import annotations

import difflib
import hashlib
import itertools
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from ..config import SimConfig
from ..scenarios import NORMAL, Scenario, as_scenario

#: columns every sweep row has besides its parameters and metrics, in table order
FIXED_COLUMNS = ("run_id", "scenario", "seed", "status", "error", "elapsed_s")
_CONFIG_FIELDS = tuple(f.name for f in fields(SimConfig))


class RandomSpace:
    """``n`` random points of a parameter space, reproducible from ``seed``.

    Parameters
    ----------
    space : dict
        ``{name: spec}`` where a spec is a list of choices (drawn uniformly), a tuple
        ``(lo, hi)`` (integers drawn from ``lo..hi`` inclusive when both are ints, else floats
        uniform in ``[lo, hi)``), or a callable ``f(rng) -> value`` given a
        ``numpy.random.Generator``.
    n : int
        Points drawn; a point drawn twice runs once (the sweep may have fewer than ``n`` runs).
    seed : int
        Seed of the generator (the same seed gives the same points).

    Examples
    --------
    >>> space = RandomSpace({"fast": (5, 30), "leverage": [1.0, 2.0, 3.0]}, n=4, seed=1)
    >>> len(space.points())
    4
    """

    def __init__(self, space: dict, n: int = 100, seed: int = 0):
        if not isinstance(space, dict) or not space:
            raise TypeError(f"RandomSpace: expected a non-empty dict {{name: spec}}, got {space!r}")
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"RandomSpace: n must be a positive int, got {n!r}")
        for name, spec in space.items():
            _check_spec(name, spec)
        self.space, self.n, self.seed = dict(space), int(n), int(seed)

    def __repr__(self) -> str:
        return f"RandomSpace({self.space!r}, n={self.n}, seed={self.seed})"

    @property
    def names(self) -> list:
        return list(self.space)

    def points(self) -> list[dict]:
        """The ``n`` points, each ``{name: value}``, in draw order."""
        rng = np.random.default_rng(self.seed)
        return [{name: _draw(spec, rng) for name, spec in self.space.items()} for _ in range(self.n)]


def _check_spec(name, spec) -> None:
    if callable(spec) and not isinstance(spec, Scenario):
        return
    if isinstance(spec, tuple):
        if len(spec) != 2 or not all(isinstance(v, (int, float, np.number)) for v in spec) or spec[0] > spec[1]:
            raise ValueError(f"RandomSpace[{name!r}]: a tuple is a range (lo, hi) of numbers with lo <= hi, "
                             f"got {spec!r}; use a list for choices")
        return
    if isinstance(spec, (list, range, np.ndarray, pd.Index)) and len(spec):
        return
    raise TypeError(f"RandomSpace[{name!r}]: expected a list of choices, a (lo, hi) range or a callable "
                    f"f(rng), got {spec!r}")


def _draw(spec, rng: np.random.Generator):
    if isinstance(spec, tuple):
        lo, hi = spec
        if all(isinstance(v, (int, np.integer)) for v in spec):
            return int(rng.integers(lo, hi, endpoint=True))
        return float(rng.uniform(lo, hi))
    if isinstance(spec, (list, range, np.ndarray, pd.Index)):
        return list(spec)[int(rng.integers(len(spec)))]
    return spec(rng)


# ============================================================================ routing
def route(names, strategy_cls) -> dict:
    """``{name: (kind, field)}`` with kind ``'strategy'``, ``'config'`` or ``'scenario'``.

    Raises
    ------
    ValueError
        For a name that is neither a strategy parameter nor a config field (naming the close
        match), or that is both without a ``strategy.`` / ``config.`` prefix.

    Examples
    --------
    >>> from strategies import MaCross
    >>> route(["fast", "config.latency_scale"], MaCross)
    {'fast': ('strategy', 'fast'), 'config.latency_scale': ('config', 'latency_scale')}
    """
    params = list(dict.fromkeys([*strategy_cls._defaults(), "every"]))  # every strategy takes every=
    owner = strategy_cls.__name__
    out = {}
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"sweep: grid names must be str, got {name!r}")
        kind, _, field = name.partition(".")
        if field and kind in ("strategy", "config"):
            known = params if kind == "strategy" else _CONFIG_FIELDS
            if field not in known:
                raise ValueError(f"sweep: {name!r}: {owner if kind == 'strategy' else 'SimConfig'} has no "
                                 f"{'parameter' if kind == 'strategy' else 'field'} {field!r}{_hint(field, known)}")
            out[name] = (kind, field)
        elif name == "scenario":
            out[name] = ("scenario", name)
        elif name in params and name in _CONFIG_FIELDS:
            raise ValueError(f"sweep: {name!r} is both a parameter of {owner} and a SimConfig field; "
                             f"write 'strategy.{name}' or 'config.{name}'")
        elif name in params:
            out[name] = ("strategy", name)
        elif name in _CONFIG_FIELDS:
            out[name] = ("config", name)
        else:
            known = params + list(_CONFIG_FIELDS) + ["scenario"]
            raise ValueError(f"sweep: {name!r} is neither a parameter of {owner} ({', '.join(params) or 'none'}) "
                             f"nor a SimConfig field{_hint(name, known)}")
    targets = [v for v in out.values() if v[0] != "scenario"]
    dup = {t for t in targets if targets.count(t) > 1}
    if dup:
        kind, field = min(dup)
        raise ValueError(f"sweep: the {kind} {'parameter' if kind == 'strategy' else 'field'} {field!r} is "
                         "named twice in the grid")
    return out


def _hint(name, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# ============================================================================ runs
@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep.

    Attributes
    ----------
    index : int
        Position in the sweep (the order of the returned table).
    run_id : str
        Stable hash of the routed parameters, the scenario and the seed (resume matches on it).
    strategy_params, config_params : dict
        Constructor overrides of the strategy; ``SimConfig.with_`` changes.
    scenario : Scenario
    scenario_label : str
    seed : int
    columns : dict
        The grid values as table columns (``{grid name: value}``, scenario excluded).
    """

    index: int
    run_id: str
    strategy_params: dict
    config_params: dict
    scenario: Scenario
    scenario_label: str
    seed: int
    columns: dict

    @property
    def group(self) -> tuple:
        """Runs with the same group share one prepared dataset."""
        return (_canon(self.config_params), _key(self.scenario), self.seed)


@dataclass(frozen=True)
class Expanded:
    """The runs of a sweep and the names of its parameter columns (grid order)."""

    runs: list
    param_columns: list


def expand(strategy_cls, grid, scenarios=None, seeds=1) -> Expanded:
    """The runs of a sweep: every point of ``grid`` under every scenario and seed.

    Scenarios that draw at random (``Scenario.random``) run once per seed; the others run
    once, with the first seed (as in :func:`backtester.compare`). Points repeated (a random
    space drawing a point twice) run once.

    Parameters
    ----------
    strategy_cls : type
        A :class:`~backtester.Strategy` subclass.
    grid : dict or RandomSpace
        ``{name: list of values}`` (full product, in key order, the last key varying fastest)
        or a :class:`RandomSpace`.
    scenarios : list or dict of Scenario, optional
        Another dimension after the grid's; not together with a ``"scenario"`` grid name.
    seeds : int or sequence of int

    Examples
    --------
    >>> from strategies import MaCross
    >>> from backtester import scenarios as sc
    >>> e = expand(MaCross, {"fast": [5, 10]}, scenarios=[sc.NORMAL, sc.Slippage(2.0)])
    >>> [(r.columns["fast"], r.scenario_label) for r in e.runs]
    [(5, 'normal'), (5, 'slippage x2'), (10, 'normal'), (10, 'slippage x2')]
    """
    points, names = _points(grid)
    routes = route(names, strategy_cls)
    if "scenario" in routes and scenarios is not None:
        raise ValueError("sweep: give scenarios either as the grid's 'scenario' or as scenarios=, not both")
    seeds = _seeds(seeds)
    if "scenario" in routes:
        given = grid.get("scenario") if isinstance(grid, dict) else None
        labels = _scenario_labels(given if isinstance(given, dict) else [p["scenario"] for p in points])
    else:
        scenarios = [NORMAL] if scenarios is None else scenarios
        labels = _scenario_labels(scenarios)
        scenarios = list(scenarios.values()) if isinstance(scenarios, dict) else list(scenarios)
    runs, seen = [], set()
    columns = [n for n in names if n != "scenario"]
    for point in points:
        for s in ([point["scenario"]] if "scenario" in routes else scenarios):
            s_obj = as_scenario(s)
            for seed in (seeds if s_obj.random else seeds[:1]):
                spec = _spec(len(runs), point, routes, s_obj, labels[_key(s_obj)], seed, columns)
                if spec.run_id in seen:
                    continue
                seen.add(spec.run_id)
                runs.append(spec)
    return Expanded(runs, columns)


def _points(grid) -> tuple[list[dict], list]:
    if isinstance(grid, RandomSpace):
        return grid.points(), grid.names
    if not isinstance(grid, dict):
        raise TypeError(f"sweep: grid must be a dict {{name: list of values}} or a RandomSpace, "
                        f"got {type(grid).__name__}")
    values = {}
    for name, vals in grid.items():
        if isinstance(vals, dict) and name == "scenario":
            vals = list(vals.values())
        if isinstance(vals, (str, bytes)) or not isinstance(vals, (list, tuple, range, np.ndarray, pd.Index)):
            raise TypeError(f"sweep: grid[{name!r}]: expected a list of values, got {vals!r} "
                            f"(wrap a single value in a list: [{vals!r}])")
        if len(vals) == 0:
            raise ValueError(f"sweep: grid[{name!r}] is empty")
        values[name] = [_plain(v) for v in vals]
    names = list(values)
    return [dict(zip(names, combo)) for combo in itertools.product(*values.values())], names


def _seeds(seeds) -> list:
    seeds = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("sweep: seeds must name at least one seed")
    return seeds


def _scenario_labels(scenarios) -> dict:
    """``{scenario key: label}``; two different scenarios may not share a label."""
    pairs = list(scenarios.items()) if isinstance(scenarios, dict) else \
        [(as_scenario(s).name, s) for s in scenarios]
    by_key: dict = {}
    for label, s in pairs:
        by_key.setdefault(_key(as_scenario(s)), str(label))
    labels = list(by_key.values())
    dup = sorted({lbl for lbl in labels if labels.count(lbl) > 1})
    if dup:
        raise ValueError(f"sweep: two different scenarios share the label {dup[0]!r}; pass them as a dict "
                         "{label: Scenario} to name them apart")
    return by_key


def _key(scenario) -> str:
    return repr(scenario)


def _spec(index, point, routes, scenario, label, seed, columns) -> RunSpec:
    sp = {routes[n][1]: v for n, v in point.items() if routes[n][0] == "strategy"}
    cp = {routes[n][1]: v for n, v in point.items() if routes[n][0] == "config"}
    h = hashlib.blake2b(digest_size=8)
    h.update(repr((_canon(sp), _canon(cp), _key(scenario), int(seed))).encode())
    return RunSpec(index, h.hexdigest(), sp, cp, scenario, label, int(seed),
                   {n: point[n] for n in columns})


def _plain(v):
    """numpy scalars as Python ones, so ids and columns do not depend on where a value came from."""
    return v.item() if isinstance(v, np.generic) else v


def _canon(d: dict) -> tuple:
    return tuple(sorted((k, repr(_plain(v))) for k, v in d.items()))
