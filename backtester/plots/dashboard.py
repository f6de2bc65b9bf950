"""One figure with the four views a user checks first."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ._common import title_of
from .account import plot_equity, plot_margin
from .pnl import plot_waterfall
from .risk import plot_ladder


def dashboard(res, at=None, fig=None):
    """Equity and drawdown, margin ratio, P&L waterfall and liquidation ladder in one figure.

    Parameters
    ----------
    res : Result
    at : timestamp, optional
        Time of the ladder (default: the largest gross notional).
    fig : Figure, optional

    Returns
    -------
    Figure; its Axes are ``fig.axes`` (in order: equity, drawdown, margin, waterfall,
    ladder, shocks); each view is drawn in a nested SubFigure.

    Examples
    --------
    >>> fig = dashboard(res)            # doctest: +SKIP
    >>> fig.savefig("dashboard.png")    # doctest: +SKIP
    """
    if fig is None:
        fig = plt.figure(figsize=(18, 11), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1])
    left, right = top.subfigures(1, 2, width_ratios=[1.1, 1])
    low_left, low_right = bottom.subfigures(1, 2, width_ratios=[0.8, 1.3])
    plot_equity(res, fig=left)
    plot_margin(res, ax=right.subplots())
    plot_waterfall(res, ax=low_left.subplots())
    plot_ladder(res, at=at, fig=low_right)
    fig.suptitle(f"{title_of(res)}", fontsize="x-large")
    return fig
