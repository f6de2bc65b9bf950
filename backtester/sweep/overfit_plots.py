"""Plots of the overfitting checks: the PBO logit histogram, in-sample against out-of-sample
metrics, and the stitched out-of-sample equity of a walk-forward.

Each function draws on ``ax`` (a new figure when None) and returns the Axes, except
:func:`plot_scenario_ranks`, a heatmap, which returns the Figure (as
:func:`~backtester.sweep.heatmap` does).

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import numpy as np
>>> from backtester.sweep import pbo
>>> res = pbo(np.random.default_rng(0).normal(0, 0.01, (320, 10)), n_blocks=4)
>>> ax = plot_pbo_logits(res)
>>> ax.get_xlabel()
'logit of the out-of-sample relative rank'
"""
from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from ..plots._common import time_axis, times
from .overfit import PBOResult
from .walkforward import WalkForwardResult


def _axes(ax, size):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_pbo_logits(res: PBOResult, ax=None, bins: int | None = None):
    """Histogram of the logits of :func:`~backtester.sweep.pbo`: where the in-sample winner
    ranked out of sample, one count per combination of blocks.

    Mass left of 0 (shaded, with its share in the legend: the PBO) means the run that looked best
    ranked at or below the median once the other half of the history was shown to it.

    Parameters
    ----------
    res : PBOResult
    ax : matplotlib Axes, optional
    bins : int, optional
        Default: about the square root of the number of combinations, 10 to 40.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from backtester.sweep import pbo
    >>> res = pbo(np.random.default_rng(0).normal(0, 0.01, (320, 10)), n_blocks=4)
    >>> ax = plot_pbo_logits(res, bins=5)
    >>> len(ax.containers[0])                    # the bars
    5
    """
    if not isinstance(res, PBOResult):
        raise TypeError(f"plot_pbo_logits: expected a PBOResult, got {type(res).__name__}")
    ax = _axes(ax, (6.5, 4.0))
    logits = np.asarray(res.logits, dtype=float)
    if bins is None:
        bins = int(np.clip(np.sqrt(len(logits)), 10, 40))
    ax.hist(logits, bins=bins, color="tab:blue", alpha=0.8, edgecolor="white")
    # the bars straddling 0 are not all on one side: a shaded band shows the side, the legend the share
    lo = min(float(logits.min()), 0.0) if len(logits) else -1.0
    ax.axvspan(lo, 0.0, color="tab:red", alpha=0.12, label=f"logit <= 0: PBO = {res.pbo:.2f}")
    ax.axvline(0.0, color="tab:red", lw=1.0, ls="--")
    ax.set_xlabel("logit of the out-of-sample relative rank")
    ax.set_ylabel("combinations")
    ax.set_title(f"in-sample winner out of sample: {res.n_combinations:,} combinations of {res.n_blocks} blocks, "
                 f"{res.n_runs} runs", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_is_vs_oos(res, ax=None):
    """Out-of-sample metric against in-sample metric of each choice: the combinations of a
    :class:`~backtester.sweep.PBOResult`, or the folds of a
    :class:`~backtester.sweep.WalkForwardResult`.

    A cloud that falls to the right (negative slope, drawn as a least-squares line when it can
    be fitted) is performance degradation: the better a choice looked, the worse it did next.

    Parameters
    ----------
    res : PBOResult or WalkForwardResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from backtester.sweep import pbo
    >>> res = pbo(np.random.default_rng(0).normal(0, 0.01, (320, 10)), n_blocks=4)
    >>> ax = plot_is_vs_oos(res)
    >>> len(ax.collections[0].get_offsets())      # one point per combination
    6
    """
    if isinstance(res, PBOResult):
        x, y = np.asarray(res.is_metric, float), np.asarray(res.oos_metric, float)
        what, metric = "combinations", res.metric
    elif isinstance(res, WalkForwardResult):
        x = res.folds["is_metric"].to_numpy(dtype=float) if len(res.folds) else np.array([])
        y = res.folds["oos_metric"].to_numpy(dtype=float) if len(res.folds) else np.array([])
        what, metric = "folds", res.metric
    else:
        raise TypeError(f"plot_is_vs_oos: expected a PBOResult or WalkForwardResult, got {type(res).__name__}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    ax = _axes(ax, (5.5, 5.0))
    ax.scatter(x, y, s=14 if what == "combinations" else 30, alpha=0.5 if what == "combinations" else 0.9,
               color="tab:blue", label=f"{len(x)} {what}")
    ax.axhline(0.0, color="grey", lw=0.8)
    if len(x) >= 2 and np.ptp(x) > 0:
        slope, icpt = np.polyfit(x, y, 1)
        xs = np.array([x.min(), x.max()])
        ax.plot(xs, icpt + slope * xs, color="tab:red", lw=1.2, label=f"least squares, slope {slope:.2f}")
    ax.set_xlabel(f"in-sample {metric}")
    ax.set_ylabel(f"out-of-sample {metric}")
    ax.set_title(f"in sample vs out of sample, {what}", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    return ax


def plot_walk_forward(wf: WalkForwardResult, ax=None):
    """The stitched out-of-sample equity of :func:`~backtester.sweep.walk_forward`, with a
    vertical line at the start of each fold's test window.

    Parameters
    ----------
    wf : WalkForwardResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        The equity is the first line, the fold starts the vertical lines after it, then a
        horizontal line at the initial cash.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import data_loaders as dl
    >>> from strategies import MaCross
    >>> from backtester.sweep import walk_forward
    >>> data = dl.sample().slice("2022-11-08 00:00", "2022-11-08 06:00")
    >>> wf = walk_forward(MaCross, {"fast": [3, 6], "slow": [20]}, data, train="2h", test="1h")
    >>> ax = plot_walk_forward(wf)
    >>> len(ax.lines)                     # the equity, 4 fold starts, the initial cash
    6
    """
    if not isinstance(wf, WalkForwardResult):
        raise TypeError(f"plot_walk_forward: expected a WalkForwardResult, got {type(wf).__name__}")
    ax = _axes(ax, (9.0, 4.0))
    eq = wf.equity
    ax.plot(times(eq.index), eq.to_numpy(), color="tab:blue", lw=1.2, label="out-of-sample equity")
    starts = times(pd.to_datetime(wf.folds["test_start"], utc=True)) if len(wf.folds) else []
    for i, t in enumerate(starts):
        ax.axvline(t, color="grey", lw=0.7, ls=":", label="fold start" if i == 0 else None)
    if np.isfinite(wf.initial_cash):
        ax.axhline(wf.initial_cash, color="black", lw=0.6, alpha=0.5)
    time_axis(ax)  # full timestamps collide once there are a few folds; the concise form names the day once
    ax.set_ylabel("equity")
    tr = wf.total_return
    ax.set_title(f"walk-forward, {len(wf.folds)} folds by {wf.metric}: out-of-sample return "
                 + (f"{tr:+.2%}" if np.isfinite(tr) else "n/a"), fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return ax


#: characters per line of a scenario label under the rank heatmap
_LABEL_WIDTH = 18


def scenario_ranks_size(n_rows: int, n_scenarios: int) -> tuple[float, float]:
    """Figure size (inches) of :func:`plot_scenario_ranks` for a table of that shape."""
    return 3.2 + 1.3 * max(n_scenarios, 2), 2.6 + 0.45 * max(n_rows, 2)


def plot_scenario_ranks(ranks, ax=None, n_runs: int | None = None):
    """Heatmap of the in-sample winner's rank under each scenario: one row per fold of a
    :class:`~backtester.sweep.WalkForwardResult` (its :attr:`~WalkForwardResult.ranks`), or one
    row for a sweep (:func:`~backtester.sweep.winner_ranks`); one column per scenario, each cell
    annotated with the rank (1 = best; "-" when the winner failed or had no value there).

    A column that turns red is the scenario under which the parameters that won on the chosen
    one fall to the bottom: "best on the normal venue, liquidated in the outage".

    Parameters
    ----------
    ranks : WalkForwardResult, Series or DataFrame
        A Series is one row (scenario labels as its index); a DataFrame has rows x scenarios.
    ax : matplotlib Axes, optional
    n_runs : int, optional
        The worst rank (the colour scale's end); default the largest rank shown.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = plot_scenario_ranks(pd.Series({"normal": 1.0, "outage": 4.0}), n_runs=4)
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['1', '4']
    """
    if isinstance(ranks, WalkForwardResult):
        table = ranks.ranks
        if table.shape[1] == 0:
            raise ValueError("plot_scenario_ranks: this walk-forward ran without scenarios=; no ranks to show")
        rows = "fold"
    elif isinstance(ranks, pd.Series):
        table, rows = ranks.to_frame().T, None
        table.index = ["winner"]
    elif isinstance(ranks, pd.DataFrame):
        table, rows = ranks, ranks.index.name
    else:
        raise TypeError(f"plot_scenario_ranks: expected a WalkForwardResult, Series or DataFrame of ranks, "
                        f"got {type(ranks).__name__}")
    vals = table.to_numpy(dtype=float)
    worst = float(n_runs) if n_runs is not None else float(np.nanmax(vals)) if np.isfinite(vals).any() else 1.0
    ax = _axes(ax, scenario_ranks_size(*table.shape))
    # green = ranked first, red = ranked last; vmax just above 1 keeps a one-run grid drawable
    im = ax.imshow(vals, cmap="RdYlGn_r", vmin=1.0, vmax=max(worst, 1.0 + 1e-9), aspect="auto")
    for (i, j), v in np.ndenumerate(vals):
        ax.text(j, i, f"{v:.0f}" if np.isfinite(v) else "-", ha="center", va="center", fontsize=9)
    labels = [textwrap.fill(str(c), _LABEL_WIDTH) for c in table.columns]  # stress-suite names run long
    tilt = table.shape[1] > 3 or any(len(str(c)) > _LABEL_WIDTH for c in table.columns)
    ax.set_xticks(range(table.shape[1]), labels, rotation=30 if tilt else 0, ha="right" if tilt else "center",
                  fontsize=8)
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index])
    ax.set_xlabel("scenario")
    if rows:
        ax.set_ylabel(rows)
    ax.set_title("in-sample winner's rank\nunder each scenario (1 = best)", fontsize=10)
    ax.figure.colorbar(im, ax=ax, label="rank", fraction=0.08, pad=0.03)
    return ax.figure
