"""Equity with drawdown underneath, and the margin ratio against the maintenance line."""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import FuncFormatter

from .. import analysis as an
from ._common import LINE, LOSS, MAINT, axes_or_new, empty_note, grid, quote, time_axis, times, title_of


def plot_equity(res, fig=None):
    """Equity (top) and drawdown from the running peak (bottom), sharing the time axis.

    Parameters
    ----------
    res : Result
    fig : Figure or SubFigure, optional
        Where to draw; default a new figure.

    Returns
    -------
    Figure (or the SubFigure given); ``fig.axes`` is ``[equity, drawdown]``. The equity line
    is ``analysis.equity_frame(res)["equity"]``, the drawdown line its ``drawdown`` in percent.

    Examples
    --------
    >>> fig = plot_equity(res)           # doctest: +SKIP
    >>> fig.savefig("equity.png")        # doctest: +SKIP
    """
    data = an.equity_frame(res)
    fig, (ax_eq, ax_dd) = grid(fig, 2, figsize=(10, 6), sharex=True, height_ratios=[3, 1.3])
    unit = quote(res)
    x = times(data.index)
    ax_eq.plot(x, data["equity"].to_numpy(), color=LINE, lw=1.2, label="equity (net collateral)")
    ax_eq.axhline(float(res.initial_cash.sum()), color="grey", ls=":", lw=1, label="initial cash")
    ax_eq.set_ylabel(f"equity ({unit})")
    ax_eq.set_title(f"{title_of(res)}: equity and drawdown")
    ax_eq.legend(loc="best", fontsize="small")
    ax_eq.grid(alpha=0.3)
    dd = data["drawdown"].to_numpy() * 100.0
    ax_dd.plot(x, dd, color=LOSS, lw=0.9, label="drawdown")
    ax_dd.fill_between(x, dd, 0.0, color=LOSS, alpha=0.3, lw=0)
    ax_dd.set_ylabel("drawdown (%)")
    ax_dd.grid(alpha=0.3)
    if not len(data):
        empty_note(ax_eq, "no equity samples")
    time_axis(ax_dd)
    return fig


def plot_margin(res, ax=None):
    """Margin ratio (NC / MMR) over time, the maintenance line at 1 and liquidations marked.

    A log scale (symlog when the ratio reaches zero or below) keeps 1.2 and 40 both readable;
    samples while flat (infinite ratio) are gaps.

    Parameters
    ----------
    res : Result
    ax : Axes, optional

    Returns
    -------
    Figure (``ax.figure`` when ``ax`` is given); the Axes is ``fig.axes[0]`` for a new
    figure. ``ax.lines[0]`` is ``analysis.margin_frame(res)["margin_ratio"]``; the scatter
    (``ax.collections[0]``) holds ``analysis.liquidation_events(res)`` at their ratio before
    liquidation.

    Examples
    --------
    >>> fig = plot_margin(res)           # doctest: +SKIP
    """
    data = an.margin_frame(res)
    events = an.liquidation_events(res)
    fig, ax = axes_or_new(ax)
    ratio = data["margin_ratio"].to_numpy(float)
    ax.plot(times(data.index), ratio, color=LINE, lw=1.1, label="margin ratio (NC / MMR)")
    ax.axhline(1.0, color=MAINT, ls="--", lw=1.2, label="maintenance (liquidated below 1)")
    ev_y = events["margin_ratio"].to_numpy(float) if len(events) else np.zeros(0)
    ev_y = np.where(np.isnan(ev_y), 1.0, ev_y)
    ax.scatter(times(events["ts"]) if len(events) else np.zeros(0, "datetime64[ns]"), ev_y, marker="X", s=80,
               color=MAINT, edgecolor="black", zorder=5, label=f"liquidation ({len(events)})")
    for t in (times(events["ts"]) if len(events) else []):
        ax.axvline(t, color=MAINT, alpha=0.25, lw=3)
    finite = ratio[np.isfinite(ratio)]
    if np.any(finite <= 0) or np.any(ev_y <= 0):
        ax.set_yscale("symlog", linthresh=1.0)
    else:
        ax.set_yscale("log")
    plain = FuncFormatter(_plain)  # a module function, so the figure pickles (report workers)
    ax.yaxis.set_major_formatter(plain)
    values = np.concatenate([finite, ev_y, [1.0]])
    if values.max() / max(values.min(), 1e-12) < 20:  # under ~a decade: label the minor ticks too
        ax.yaxis.set_minor_formatter(plain)
    if not len(finite):
        ax.set_ylim(0.5, 10.0)
        empty_note(ax, "no position held: no margin requirement")
    ax.set_ylabel("margin ratio (NC / MMR, x)")
    ax.set_title(f"{title_of(res)}: margin ratio")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3, which="both")
    time_axis(ax)
    return fig


def _plain(value, _pos) -> str:
    return f"{value:g}"
