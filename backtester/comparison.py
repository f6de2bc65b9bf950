"""`compare`: every strategy under every scenario on identical inputs, as one tidy table.

Fairness is structural, then checked. The config is copied once; each scenario is applied once
per seed to that copy; the resulting dataset is laid out for the kernel once
(:class:`~backtester.driver.Prepared`) and every strategy runs on those very arrays. After the
runs, a hash of what each run's kernel received (market data, latency traces, costs, margin
parameters, settings, initial balances; not its own decision times and targets) must be the
same for every strategy of a (scenario, seed) cell, or :func:`compare` raises. A run that
received the very array objects of its cell's first run carries that run's hash (the arrays
are hashed again after the cell, so a run that wrote to them is caught); any other run is
hashed in full.

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from strategies import BuyAndHold, MaCross
>>> from backtester import scenarios as sc
>>> cmp = bt.compare([BuyAndHold(leverage=2.0), MaCross()], dl.sample(),
...                  scenarios=[sc.NORMAL, sc.Slippage(3.0)])        # doctest: +SKIP
>>> cmp.pivot("total_return")                                        # doctest: +SKIP
>>> cmp.ranking()                                                     # doctest: +SKIP
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .batch import run_many
from .config import SimConfig
from .driver import Prepared
from .engine import Engine
from .kernel.state import CI_TARGET_MODE
from .strategy import Strategy

#: metrics where a larger value is better (ranking direction); others rank smaller-is-better
HIGHER_IS_BETTER = {"final_equity", "total_return", "sharpe", "sortino", "max_drawdown", "funding",
                    "min_margin_ratio"}

# two-sided 95 % Student t quantiles by degrees of freedom (1..30); 1.96 beyond
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def fingerprint(engine) -> str:
    """Hash of everything a run's kernel received except its own decisions and targets.

    Two runs with equal fingerprints saw the same trades, funding, oracle, latency traces,
    reorgs, slippage multipliers, market parameters (margin fractions, fees, impact), settings
    and initial balances.
    """
    h = hashlib.blake2b(digest_size=16)
    inp = engine.inputs
    for name, arr in zip(inp._fields, inp):
        if name in ("dc_ts", "tg_value"):
            continue
        a = np.asarray(arr)
        if name == "cfg_i":
            a = a.copy()
            a[CI_TARGET_MODE] = 0  # fast path or hybrid is the strategy's business
        h.update(name.encode())
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(memoryview(np.ascontiguousarray(a)).cast("B"))  # the bytes, not a copy of them
    h.update(np.ascontiguousarray(engine.initial_cash, np.float64).tobytes())
    h.update(repr(engine.config.insurance_fund).encode())  # the fund's start (the state moves)
    h.update(repr(engine.layout.markets).encode() + repr(engine.layout.accounts).encode())
    return h.hexdigest()


def _shares_inputs(engine, ref) -> bool:
    """True when ``engine`` received the very arrays ``ref`` did (decisions and targets aside),
    the same settings and the same initial balances."""
    a, b = engine.inputs, ref.inputs
    for name, x, y in zip(a._fields, a, b):
        if name in ("dc_ts", "tg_value"):
            continue
        if name == "cfg_i":
            keep = np.arange(len(x)) != CI_TARGET_MODE
            if not np.array_equal(x[keep], y[keep]):
                return False
        elif x is not y:
            return False
    return (np.array_equal(engine.initial_cash, ref.initial_cash)
            and engine.config.insurance_fund == ref.config.insurance_fund
            and engine.layout.markets == ref.layout.markets and engine.layout.accounts == ref.layout.accounts)


def _t95(n: int) -> float:
    return np.nan if n < 2 else (_T95[n - 2] if n - 1 <= len(_T95) else 1.96)


def _labels(items, what: str, default_name) -> list:
    """(label, item) pairs with unique labels; a dict gives its own labels."""
    pairs = list(items.items()) if isinstance(items, dict) else [(default_name(x), x) for x in items]
    seen: dict = {}
    for label, _ in pairs:
        seen[label] = seen.get(label, 0) + 1
    dup = [k for k, n in seen.items() if n > 1]
    if dup:
        singular = {"strategies": "strategy", "scenarios": "scenario"}.get(what, what)
        raise ValueError(f"two {what} share the label {dup[0]!r}; pass a dict {{label: {singular}}} "
                         "to name them apart")
    return pairs


@dataclass
class Comparison:
    """What :func:`compare` returns.

    Attributes
    ----------
    table : DataFrame
        Tidy: one row per (scenario, strategy, seed, metric) with its ``value``.
    results : dict
        ``{(scenario, strategy, seed): Result}`` (empty with ``keep_results=False``).
    fingerprints : DataFrame
        The input hash of every run (scenario, strategy, seed, fingerprint).
    scenarios, strategies : list of str
        Labels in the order given.
    """

    table: pd.DataFrame
    results: dict = field(default_factory=dict)
    fingerprints: pd.DataFrame = None
    scenarios: list = field(default_factory=list)
    strategies: list = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"Comparison({len(self.strategies)} strategies x {len(self.scenarios)} scenarios, "
                f"{self.table['seed'].nunique()} seed(s), {len(self.table):,} rows)")

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Mean over seeds of each (scenario, strategy, metric) with a 95 % interval.

        ``lo``/``hi`` are the Student-t interval of the mean over seeds (equal to the mean when
        a scenario draws nothing at random and so ran once).
        """
        if level != 0.95:
            raise ValueError("only the 95 % interval is provided")
        g = self.table.groupby(["scenario", "strategy", "metric"], sort=False)["value"]
        out = g.agg(mean="mean", sd="std", n="count").reset_index()
        half = out["n"].map(_t95) * out["sd"] / np.sqrt(out["n"])
        half = half.where(out["n"] > 1, 0.0)
        out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
        return out.drop(columns="sd")

    def pivot(self, metric: str = "total_return") -> pd.DataFrame:
        """Scenario x strategy table of one metric (mean over seeds)."""
        self._check_metric(metric)
        t = self.table[self.table["metric"] == metric]
        p = t.pivot_table(index="scenario", columns="strategy", values="value", aggfunc="mean", sort=False)
        return p.reindex(index=self.scenarios, columns=self.strategies)

    def metric_table(self, scenario: str | None = None) -> pd.DataFrame:
        """Strategy x metric table of one scenario (default: the first), mean over seeds."""
        scenario = self.scenarios[0] if scenario is None else scenario
        if scenario not in self.scenarios:
            raise KeyError(f"unknown scenario {scenario!r}; have {self.scenarios}")
        t = self.table[self.table["scenario"] == scenario]
        p = t.pivot_table(index="strategy", columns="metric", values="value", aggfunc="mean", sort=False)
        return p.reindex(index=self.strategies)

    def ranking(self, metric: str = "total_return", higher_is_better: bool | None = None) -> pd.DataFrame:
        """Strategies ranked by ``metric`` in every scenario (1 = best), and by mean rank.

        Columns: one rank per scenario, ``mean_rank``, ``worst_<metric>`` across scenarios and
        ``liquidated_in`` (scenarios where the strategy was liquidated at least once).
        """
        p = self.pivot(metric)
        up = metric in HIGHER_IS_BETTER if higher_is_better is None else higher_is_better
        ranks = p.rank(axis=1, ascending=not up, method="min").T
        out = ranks.copy()
        out.columns = [f"rank: {c}" for c in ranks.columns]
        out["mean_rank"] = ranks.mean(axis=1)
        out[f"worst_{metric}"] = p.min() if up else p.max()
        liq = self.pivot("n_liquidations") if "n_liquidations" in set(self.table["metric"]) else None
        if liq is not None:
            out["liquidated_in"] = (liq > 0).sum().reindex(out.index)
        return out.sort_values(["mean_rank", f"worst_{metric}"], ascending=[True, not up])

    def _check_metric(self, metric: str) -> None:
        have = sorted(set(self.table["metric"]))
        if metric not in have:
            raise KeyError(f"unknown metric {metric!r}; have {have}")


def compare(strategies, data, scenarios=None, config: SimConfig | None = None, *, seeds=1,
            keep_results: bool = True, progress: bool = True, on_cell=None) -> Comparison:
    """Run every strategy under every scenario on identical inputs.

    Parameters
    ----------
    strategies : list of Strategy, or dict {label: Strategy}
        Instances; each run gets a fresh copy, so the originals are untouched and no run leaks
        state into another. Labels default to ``Strategy.name`` and must be unique.
    data : data_loaders.Dataset
    scenarios : list of Scenario, dict {label: Scenario}, or None
        Default: the normal venue only (:data:`backtester.scenarios.NORMAL`). Labels default to
        ``Scenario.name``.
    config : SimConfig, optional
        Copied once; every run of a scenario sees the same copy after the scenario is applied.
    seeds : int or sequence of int
        Scenarios that draw at random (``Scenario.random``) run once per seed (``seeds=5``:
        0..4) and get a 95 % interval in :meth:`Comparison.summary`; deterministic scenarios
        run once, with the first seed.
    keep_results : bool
        Keep every :class:`Result` (needed for plots; turn off for large comparisons).
    progress : bool
        Progress bar over runs.
    on_cell : callable, optional
        Called as ``on_cell(scenario_label, seed, {strategy_label: Result})`` after each
        (scenario, seed) cell, in order, e.g. a :class:`backtester.report.ReportPlots` that
        draws the cell's plots while the next cell runs.

    Returns
    -------
    Comparison

    Raises
    ------
    RuntimeError
        If two strategies of one (scenario, seed) received different inputs (which would be a
        bug: they share one prepared dataset).
    """
    from . import scenarios as sc

    strategies = _labels(strategies, "strategies", lambda s: s.name)
    for label, s in strategies:
        if not isinstance(s, Strategy):
            raise TypeError(f"strategy {label!r}: expected a Strategy instance, got {type(s).__name__}")
    scen = _labels([sc.NORMAL] if scenarios is None else scenarios, "scenarios", lambda s: s.name)
    seeds = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    config = copy.deepcopy(config or SimConfig())
    cells = [(label, s, seed) for label, s in scen for seed in (seeds if getattr(s, "random", False) else seeds[:1])]

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(cells) * len(strategies), desc="compare", unit="run")
    rows, prints, results = [], [], {}
    try:
        for s_label, scenario, seed in cells:
            setup = sc.apply(scenario, data, config, seed=seed)
            prepared = Prepared.build(setup.data, setup.config, setup.reorgs)
            if bar is not None:
                bar.set_postfix_str(s_label[:60])
            # the cell's shared inputs, hashed once: they are read-only (Prepared.build), so a
            # write into them fails where it happens; that they stayed so is checked below
            shared = Engine(prepared.inputs, prepared.layout, prepared.config)
            before = fingerprint(shared)
            # the plan-only strategies of a cell share kernel calls (backtester.batch)
            runs = run_many([copy.deepcopy(strategy) for _, strategy in strategies], prepared)
            for (label, _), res in zip(strategies, runs):
                stats = res.stats_values()
                rows.extend((s_label, label, seed, k, float(v)) for k, v in stats.items())
                # a run given the very arrays of the cell carries its hash; anything else is
                # hashed in full (hashing ~70 MB per run again would cost 0.1 s each)
                same = _shares_inputs(res.engine, shared)
                prints.append((s_label, label, seed, before if same else fingerprint(res.engine)))
                if keep_results:
                    results[(s_label, label, seed)] = res
                if bar is not None:
                    bar.update(1)
            if on_cell is not None:
                on_cell(s_label, seed, {label: res for (label, _), res in zip(strategies, runs)})
            opened = [f for f, a in zip(prepared.inputs._fields, prepared.inputs) if a.flags.writeable]
            if opened:
                raise RuntimeError(f"the inputs of scenario {s_label!r}, seed {seed} may have changed during its "
                                   f"runs: {', '.join(opened)} made writable (the runs share them read-only)")
    finally:
        if bar is not None:
            bar.close()
    fp = pd.DataFrame(prints, columns=["scenario", "strategy", "seed", "fingerprint"])
    bad = fp.groupby(["scenario", "seed"])["fingerprint"].nunique()
    if (bad > 1).any():
        s_label, seed = bad[bad > 1].index[0]
        raise RuntimeError(f"strategies received different inputs under scenario {s_label!r}, seed {seed}")
    table = pd.DataFrame(rows, columns=["scenario", "strategy", "seed", "metric", "value"])
    return Comparison(table, results, fp, [lbl for lbl, _ in scen], [lbl for lbl, _ in strategies])
