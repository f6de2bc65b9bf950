"""Shared plumbing of the plot modules: new figures or axes, time axes, units.

Figures are made with :mod:`matplotlib.pyplot`, so a notebook shows them inline at the end of
the cell (end the line with ``;`` to avoid a second copy when the returned Figure is the cell's
value); nothing here calls ``plt.show()``. Save with ``fig.savefig(path)`` and free with
``plt.close(fig)``.
"""
from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

#: colours used across the plots, so one quantity looks the same everywhere
GAIN, LOSS, NET, LINE, MAINT = "#2e7d32", "#c62828", "#1f4e79", "#1f77b4", "#d62728"


def axes_or_new(ax, figsize=(9, 4.5)):
    """``(figure, ax)``: the given Axes and its figure, or a new figure with one Axes."""
    if ax is None:
        fig = plt.figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    if not hasattr(ax, "plot"):
        raise TypeError(f"ax: expected a matplotlib Axes, got {type(ax).__name__}")
    return ax.figure, ax


def grid(fig, nrows: int, ncols: int = 1, figsize=(10, 6), **kwargs):
    """``(figure, axes)`` of a ``nrows x ncols`` grid in ``fig`` (a Figure or SubFigure) or in
    a new figure; ``kwargs`` go to ``Figure.subplots`` (sharex, height_ratios, ...)."""
    if fig is None:
        fig = plt.figure(figsize=figsize, layout="constrained")
    elif not hasattr(fig, "subplots"):
        raise TypeError(f"fig: expected a matplotlib Figure or SubFigure, got {type(fig).__name__}")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, list(axes.ravel())


def times(index) -> np.ndarray:
    """UTC times as naive ``datetime64[ns]`` (matplotlib's native date type)."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.to_numpy()


def time_axis(ax) -> None:
    """Concise date ticks and the UTC label on the x axis."""
    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.set_xlabel("time (UTC)")


def quote(res) -> str:
    """Quote currency of the run's markets ('USD' for 'BTC-USD'), else 'quote'."""
    names = {m.rsplit("-", 1)[-1] for m in res.layout.markets if "-" in m}
    return names.pop() if len(names) == 1 else "quote"


def title_of(res) -> str:
    return getattr(res.strategy, "name", type(res.strategy).__name__)


def empty_note(ax, text: str) -> None:
    """Say in the Axes why there is nothing to draw (instead of an empty frame)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="grey")
