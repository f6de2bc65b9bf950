"""Time to finality of each fill, and the notional exposed while fills are still pending."""
from __future__ import annotations

import numpy as np

from .. import analysis as an
from ._common import LINE, LOSS, empty_note, quote, time_axis, times, title_of

_COLORS = {"taker": LINE, "maker": "#2e7d32", "liquidation": LOSS}


def plot_finality(res, fig=None):
    """Time to finality per fill over time (with a histogram beside it) and the absolute
    notional of fills not yet final.

    Parameters
    ----------
    res : Result
    fig : Figure or SubFigure, optional

    Returns
    -------
    Figure (or the SubFigure given); ``fig.axes`` is ``[per fill, histogram, pending]``. The
    per-fill scatters (one per liquidity kind, in ``collections``) hold ``finality_frame(res)``
    ``ts`` (x) and ``time_to_finality_s`` (y); ``pending.lines[0]`` is
    ``pending_exposure(res)`` as a step line.

    Examples
    --------
    >>> fig = plot_finality(res)        # doctest: +SKIP
    """
    data = an.finality_frame(res)
    pending = an.pending_exposure(res)
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(11, 6), layout="constrained")
    axd = fig.subplot_mosaic([["fills", "hist"], ["pending", "."]], width_ratios=[4, 1], height_ratios=[1.3, 1])
    ax_f, ax_h, ax_p = axd["fills"], axd["hist"], axd["pending"]
    ax_p.sharex(ax_f)
    ax_h.sharey(ax_f)
    for kind, rows in data.groupby("liquidity", sort=False):
        ax_f.scatter(times(rows["ts"]), rows["time_to_finality_s"].to_numpy(), s=14, alpha=0.75,
                     color=_COLORS.get(kind, "grey"), label=f"{kind} ({len(rows)})")
    rev = data[data["reverted"]]
    if len(rev):
        ax_f.scatter(times(rev["ts"]), rev["time_to_finality_s"].to_numpy(), s=60, facecolor="none",
                     edgecolor="black", label=f"reverted by a reorg ({len(rev)})")
    ax_f.set_ylabel("time to finality (s)")
    ax_f.set_title(f"{title_of(res)}: time to finality per fill")
    ax_f.grid(alpha=0.3)
    ttf = data["time_to_finality_s"].to_numpy(float)
    if len(ttf):
        ax_f.legend(loc="best", fontsize="small")
        ax_h.hist(ttf, bins=min(30, max(5, int(np.sqrt(len(ttf))))), orientation="horizontal", color=LINE, alpha=0.7)
    else:
        empty_note(ax_f, "no fills")
    ax_h.set_xlabel("fills (count)")
    ax_h.tick_params(labelleft=False)
    unit = quote(res)
    if len(pending):
        ax_p.step(times(pending.index), pending.to_numpy(), where="post", color=LOSS, lw=1.0)
    else:
        empty_note(ax_p, "nothing pending")
    ax_p.set_ylabel(f"pending notional ({unit})")
    ax_p.set_title("exposure held while fills are not final")
    ax_p.grid(alpha=0.3)
    time_axis(ax_p)
    ax_f.tick_params(labelbottom=False)
    return fig
