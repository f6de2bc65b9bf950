"""The P&L waterfall: price P&L, then each cost, down to net P&L."""
from __future__ import annotations

import numpy as np

from .. import analysis as an
from ._common import GAIN, LOSS, NET, axes_or_new, quote, title_of

_LABELS = {"price_pnl": "price P&L", "fees": "fees", "slippage": "slippage", "funding": "funding",
           "gas": "gas", "liquidation_losses": "liquidation\nlosses",
           "insurance_cover": "insurance\ncover", "net": "net"}


def plot_waterfall(res, ax=None):
    """Waterfall of :func:`backtester.analysis.pnl_breakdown`: each item a floating bar from
    the running total, net as a bar from zero.

    Parameters
    ----------
    res : Result
    ax : Axes, optional

    Returns
    -------
    Figure (``ax.figure`` when ``ax`` is given); the Axes is ``fig.axes[0]`` for a new
    figure. ``ax.patches`` are the bars in the order of ``pnl_breakdown(res)``; each bar's
    height is that item's amount (negative for a cost), its bottom the running total.

    Examples
    --------
    >>> fig = plot_waterfall(res)        # doctest: +SKIP
    """
    pnl = an.pnl_breakdown(res)
    fig, ax = axes_or_new(ax, figsize=(9, 4.8))
    steps = pnl.drop("net").to_numpy(float)
    bottoms = np.concatenate([[0.0], np.cumsum(steps)[:-1]])
    heights = np.concatenate([steps, [pnl["net"]]])
    bottoms = np.concatenate([bottoms, [0.0]])
    colors = [GAIN if h >= 0 else LOSS for h in steps] + [NET]
    labels = [_LABELS[k] for k in pnl.index]
    ax.bar(labels, heights, bottom=bottoms, color=colors, edgecolor="black", lw=0.5)
    # connectors from one bar's end to the next bar's start
    ends = bottoms + heights
    for i in range(len(heights) - 1):
        ax.plot([i + 0.4, i + 0.6], [ends[i], ends[i]], color="grey", lw=0.8)
    unit = quote(res)
    span = max(float(np.max(np.maximum(ends, bottoms)) - np.min(np.minimum(ends, bottoms))), 1e-12)
    for i, h in enumerate(heights):
        if abs(h) > 0.08 * span:  # room inside the bar
            ax.text(i, bottoms[i] + h / 2, f"{h:+,.2f}", ha="center", va="center", fontsize="small",
                    color="white", fontweight="bold")
        else:  # a thin bar: label just above its top
            ax.annotate(f"{h:+,.2f}", (i, max(bottoms[i], ends[i])), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize="small")
    ax.use_sticky_edges = False  # floating bars would otherwise pin the limits to their ends
    ax.margins(y=0.08)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_ylabel(f"P&L ({unit})")
    ax.set_title(f"{title_of(res)}: P&L waterfall (net {pnl['net']:+,.2f} {unit})")
    ax.grid(axis="y", alpha=0.3)
    return fig
