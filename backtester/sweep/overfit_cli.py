"""The overfitting checks of ``backtester sweep``: ``--pbo S`` and ``--walk-forward SPEC``.

Both options are parsed before any run, so a malformed value costs nothing; the checks run
after the sweep, on the same strategy, grid, config and data.

Examples
--------
>>> parse_pbo("16")
16
>>> parse_walk_forward("train=14D,test=3D,anchored=true")
{'train': Timedelta('14 days 00:00:00'), 'test': Timedelta('3 days 00:00:00'), 'anchored': True}
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..scenarios.base import fmt_duration
from .walkforward import positive_duration

_WF_KEYS = ("train", "test", "step", "anchored", "carry")
#: the keys that take true/false
_WF_FLAGS = ("anchored", "carry")
_WF_FORM = "train=14D,test=3D[,step=3D,anchored=true,carry=true]"


def parse_pbo(value) -> int:
    """The number of blocks of ``--pbo``: an even int from 2 to
    :data:`~backtester.sweep.overfit.MAX_BLOCKS` (:func:`~backtester.sweep.overfit.check_blocks`).

    Raises
    ------
    ValueError
        Naming the option and the value.

    Examples
    --------
    >>> parse_pbo("8")
    8
    >>> parse_pbo("7")
    Traceback (most recent call last):
    ...
    ValueError: --pbo 7: the number of blocks must be an even int from 2 to 22, got 7 (e.g. 16)
    """
    from .overfit import check_blocks

    try:
        s = int(str(value).strip())
    except ValueError:
        s = str(value)
    try:
        return check_blocks(s, "the number of blocks")
    except ValueError as exc:
        raise ValueError(f"--pbo {value}: {exc} (e.g. 16)") from None


def parse_walk_forward(value: str) -> dict:
    """The keyword arguments of :func:`~backtester.sweep.walk_forward` in ``--walk-forward``:
    comma-separated ``key=value`` pairs, ``train`` and ``test`` required, ``step``, ``anchored``
    and ``carry`` (true: one account carried across folds; default false, every test window
    starts flat) optional.

    Raises
    ------
    ValueError
        A missing, unknown or repeated key, a duration pandas cannot read, a non-positive
        duration, or ``anchored`` / ``carry`` not true/false; the message names the option and
        the value.

    Examples
    --------
    >>> parse_walk_forward("train=2h, test=1h, step=90min")["step"]
    Timedelta('0 days 01:30:00')
    >>> parse_walk_forward("train=2h")
    Traceback (most recent call last):
    ...
    ValueError: --walk-forward train=2h: missing test (expected train=14D,test=3D[,step=3D,anchored=true,carry=true])
    """
    def bad(why):
        return ValueError(f"--walk-forward {value}: {why} (expected {_WF_FORM})")

    out: dict = {}
    for part in str(value).split(","):
        key, eq, val = (x.strip() for x in part.partition("="))
        if not eq or not key or not val:
            raise bad(f"{part.strip()!r} is not key=value")
        if key not in _WF_KEYS:
            raise bad(f"unknown key {key!r}; known: {', '.join(_WF_KEYS)}")
        if key in out:
            raise bad(f"{key} given twice")
        if key in _WF_FLAGS:
            if val.lower() not in ("true", "false"):
                raise bad(f"{key} must be true or false, got {val!r}")
            out[key] = val.lower() == "true"
            continue
        try:
            out[key] = positive_duration(key, val)
        except ValueError:
            raise bad(f"{key}={val} is not a positive duration such as 3D, 12h or 90min") from None
    for key in ("train", "test"):
        if key not in out:
            raise bad(f"missing {key}")
    return out


def report_pbo(n_blocks: int, option: str, strategy, grid, data, *, table, scenarios, config, seeds,
               n_threads):
    """Print PBO, the probability of an out-of-sample loss and the deflated Sharpe ratio of the
    best run (by the Sharpe ratio of its returns between equity samples) of the sweep's grid;
    returns them as a :class:`~backtester.sweep.overfit_report.PBOSummary`."""
    from .overfit import deflated_sharpe, pbo, sharpe_moments
    from .overfit_report import PBOSummary
    from .returns import returns_matrix

    from .walkforward import _labelled

    under = None
    if scenarios is not None and len(scenarios) > 1:
        # a scenario is the same parameters on another venue model, not another trial: ranking
        # the variants against each other would count each parameter set once per scenario
        under, first = next(iter(_labelled(scenarios).items()))
        scenarios = [first]
        print(f"\n{option}: under scenario {under!r} only (the first of the file's scenarios; the "
              "trials are the grid's parameter sets)")
    rets = returns_matrix(strategy, grid, data, scenarios=scenarios, config=config, seeds=seeds,
                          n_threads=n_threads).dropna(axis=1)
    try:
        res = pbo(rets, n_blocks=n_blocks)
    except ValueError as exc:
        raise ValueError(f"{option} {n_blocks}: {exc}") from None
    x = rets.to_numpy()
    live = x.std(axis=0) > 0  # runs whose equity never moved have no Sharpe ratio: not trials
    print(f"\nprobability of backtest overfitting (CSCV, {n_blocks} blocks, {res.n_combinations:,} "
          f"combinations of {res.n_runs} runs x {len(rets):,} returns, by Sharpe ratio):")
    print(f"  PBO {res.pbo:.3f}: share of combinations where the in-sample best ranked at or below the "
          "median out of sample (0.5: choosing by the past is a coin toss)")
    print(f"  probability of out-of-sample loss {res.prob_oos_loss:.3f}; degradation slope "
          f"{res.degradation_slope:.3g}")
    if live.sum() < 2:
        print("  deflated Sharpe ratio: n/a (fewer than 2 runs whose equity changed)")
        return PBOSummary(res, n_returns=len(rets))
    srs = x[:, live].mean(axis=0) / x[:, live].std(axis=0, ddof=1)
    col = np.flatnonzero(live)[int(np.argmax(srs))]
    run_id = rets.columns[col]
    sr, n, skew, kurt = sharpe_moments(x[:, col])
    dsr = deflated_sharpe(sr, n, int(live.sum()), float(np.var(srs, ddof=1)), skew, kurt)
    row = table[table["run_id"] == run_id]
    params = table.attrs.get("params", [])
    what = ", ".join(f"{p}={row[p].iloc[0]}" for p in params if p in row.columns) if len(row) else ""
    print(f"  deflated Sharpe ratio of the best run {run_id}{f' ({what})' if what else ''}: {dsr:.3f} "
          f"(per-period Sharpe {sr:.4f} over {int(live.sum())} trials; above 0.95: unlikely to be luck alone)")
    return PBOSummary(res, n_returns=len(rets), dsr=float(dsr), sharpe=float(sr), n_trials=int(live.sum()),
                      best_run=str(run_id), best_params=what, scenario=under)


def report_walk_forward(spec: dict, option: str, strategy, grid, data, *, metric, config, scenarios,
                        n_jobs, out=None, resume: bool = True):
    """Run :func:`~backtester.sweep.walk_forward` (under the sweep's scenarios, choosing on the
    first; resumable in ``out``), print the folds, the winners' ranks by scenario and the total
    out-of-sample return; returns the :class:`~backtester.sweep.WalkForwardResult`."""
    from .walkforward import walk_forward

    try:
        wf = walk_forward(strategy, grid, data, metric=metric, config=config, n_jobs=n_jobs,
                          scenarios=scenarios or None, out=out, resume=resume, **spec)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None
    print(f"\nwalk-forward by {metric}, {len(wf.folds)} folds (train {fmt_duration(spec['train'])}, test "
          f"{fmt_duration(spec['test'])}" + (f", step {fmt_duration(spec['step'])}" if "step" in spec else "")
          + (", anchored" if spec.get("anchored") else "")
          + ("; one account carried across folds):" if spec.get("carry") else "; each test window starts flat):"))
    shown = wf.folds[[c for c in wf.folds.columns if not c.endswith("]")]].copy()  # per scenario: below
    for c in ("train_start", "train_end", "test_start", "test_end"):
        shown[c] = pd.to_datetime(shown[c]).dt.strftime("%Y-%m-%d %H:%M")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    if scenarios:
        _print_by_scenario(wf)
    tr = wf.total_return
    print(f"total out-of-sample return {tr:+.2%}" if np.isfinite(tr) else "total out-of-sample return: n/a "
          "(no fold had a winner)")
    return wf


def _print_by_scenario(wf) -> None:
    """The winners' in-sample rank and out-of-sample metric under every scenario, fold by fold."""
    oos = wf.folds.set_index("fold")[[f"oos_metric[{c}]" for c in wf.ranks.columns]]
    oos.columns = wf.ranks.columns
    fmt = {"float_format": lambda v: f"{v:,.4g}"}
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"\nrank of each fold's winner (chosen on {wf.choose_on!r}) among the grid's training runs under "
              "each scenario (1 = best):")
        print(wf.ranks.to_string(float_format=lambda v: f"{v:.0f}", na_rep="-"))
        print(f"\nits out-of-sample {wf.metric} under each scenario:")
        print(oos.to_string(**fmt))


