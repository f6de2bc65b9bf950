"""Scenario x strategy heatmap of one metric."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.ticker import PercentFormatter

from .. import analysis as an
from ._common import axes_or_new

#: metrics where a larger number is worse: their colormap is reversed (red = large)
LOWER_IS_BETTER = {"fees", "slippage_cost", "gas", "liquidation_losses", "n_liquidations",
                   "mean_time_to_finality_s", "worst_time_to_finality_s"}
#: inches of height per character of a column label rotated by 30 degrees (sin 30 x ~0.09 in)
_ROTATED_HEIGHT = 0.045
#: metrics that are fractions: cells and colour bar in percent
FRACTIONS = {"total_return", "max_drawdown"}


def heatmap(table, metric=None, ax=None, cmap=None, fmt=None):
    """Heatmap of ``metric`` by scenario (rows) and strategy (columns), averaged over seeds,
    each cell annotated, on a diverging colormap centred at 0 (red below, green above; reversed
    for costs such as fees).

    Parameters
    ----------
    table : DataFrame
        Tidy ``scenario, strategy, seed, metric, value`` (``bt.compare(...).table``), wide
        (one column per metric) or already pivoted; see
        :func:`backtester.analysis.heatmap_table`.
    metric : str
        The metric to show (not needed for a pivoted table; then only the title).
    ax : Axes, optional
    cmap : str or Colormap, optional
        Default ``"RdYlGn"`` (``"RdYlGn_r"`` for metrics in :data:`LOWER_IS_BETTER`).
    fmt : str, optional
        Cell format, e.g. ``"{:.2f}"``; default percent for fractions, else 3 significant digits.

    Returns
    -------
    Figure (``ax.figure`` when given); the Axes is ``fig.axes[0]`` (the colour bar is
    ``fig.axes[1]``). ``ax.images[0].get_array()`` is ``heatmap_table(table, metric)``; the
    cell labels are ``ax.texts``, row by row.

    Examples
    --------
    >>> fig = heatmap(result.table, "total_return")   # doctest: +SKIP
    """
    data = an.heatmap_table(table, metric)
    n_rows, n_cols = data.shape
    label = max((len(str(r)) for r in data.index), default=0)  # long scenario names need room
    below = max((len(str(c)) for c in data.columns), default=0)  # and strategy names, rotated
    fig, ax = axes_or_new(ax, figsize=(1.6 + 0.09 * label + 1.5 * max(n_cols, 2),
                                       1.2 + 0.55 * max(n_rows, 2) + _ROTATED_HEIGHT * below))
    values = data.to_numpy(float)
    finite = values[np.isfinite(values)]
    half = float(np.max(np.abs(finite))) if len(finite) else 1.0
    half = half if half > 0 else 1.0
    cmap = cmap or ("RdYlGn_r" if metric in LOWER_IS_BETTER else "RdYlGn")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=Normalize(-half, half), aspect="auto")
    frac = metric in FRACTIONS
    fmt = fmt or ("{:+.1%}" if frac else "{:.3g}")
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            dark = np.isfinite(v) and abs(v) > 0.6 * half
            ax.text(j, i, "n/a" if not np.isfinite(v) else fmt.format(v), ha="center", va="center",
                    fontsize="small", color="white" if dark else "black")
    ax.set_xticks(range(n_cols), [str(c) for c in data.columns], rotation=30, ha="right")
    ax.set_yticks(range(n_rows), [str(r) for r in data.index])
    ax.set_xlabel("strategy")
    ax.set_ylabel("scenario")
    label = metric or "value"
    bar = fig.colorbar(im, ax=ax, label=f"{label} (%)" if frac else label,
                       format=PercentFormatter(xmax=1.0) if frac else None)
    bar.ax.axhline(0.0, color="black", lw=0.8)
    seeds = " (mean over seeds)" if "seed" in getattr(table, "columns", []) else ""
    ax.set_title(f"{label} by scenario and strategy{seeds}")
    return fig
