"""Funding rate, its z-score, and the funding-aware sizing it produced."""
from __future__ import annotations

from .. import analysis as an
from ._common import LINE, LOSS, MAINT, NET, grid, time_axis, times


def plot_funding(source, market=None, sizing=None, every=None, fig=None):
    """Three stacked panels sharing time: funding rate, its z-score with the sizing rule's
    thresholds, and the funding risk multiplier with the resulting maximum notional.

    Parameters
    ----------
    source : Result or data_loaders.Dataset
    market, sizing, every
        As :func:`backtester.analysis.funding_frame`.
    fig : Figure or SubFigure, optional

    Returns
    -------
    Figure (or the SubFigure given); ``fig.axes`` is ``[rate, z-score, multiplier,
    max notional]`` (the last is the right-hand twin of the third). Lines carry the columns of
    ``funding_frame``: rate in basis points, z as is, multiplier, max_notional.

    Examples
    --------
    >>> import data_loaders as dl
    >>> fig = plot_funding(dl.sample(), "BTC-USD")   # doctest: +SKIP
    """
    data = an.funding_frame(source, market, sizing, every)
    fig, (ax_r, ax_z, ax_m) = grid(fig, 3, figsize=(10, 7.5), sharex=True)
    x = times(data.index)
    ax_r.plot(x, data["funding_rate"].to_numpy() * 1e4, color=LINE, lw=1.1, drawstyle="steps-post",
              label="funding rate")
    ax_r.axhline(0.0, color="black", lw=0.8)
    ax_r.set_ylabel("funding rate\n(bp per interval)")
    ax_r.set_title(f"{data.attrs['market']}: funding, z-score and funding-aware size")
    ax_r.grid(alpha=0.3)
    thr = data.attrs["z_threshold"]
    ax_z.plot(x, data["funding_z"].to_numpy(), color=NET, lw=1.1, label="z-score")
    for sign in (1, -1):
        ax_z.axhline(sign * thr, color=MAINT, ls="--", lw=1, label="threshold" if sign > 0 else None)
    ax_z.axhline(0.0, color="black", lw=0.6)
    ax_z.set_ylabel("funding z-score\n(std devs)")
    ax_z.legend(loc="upper left", fontsize="small")
    ax_z.grid(alpha=0.3)
    ax_m.plot(x, data["funding_risk_multiplier"].to_numpy(), color=LOSS, lw=1.2, label="funding risk multiplier")
    ax_m.set_ylabel("funding risk\nmultiplier (x)")
    ax_m.grid(alpha=0.3)
    ax_n = ax_m.twinx()
    ax_n.plot(x, data["max_notional"].to_numpy(), color="grey", lw=1.0, ls="-", alpha=0.8, label="max notional")
    ax_n.set_ylabel("max notional (quote)")
    handles = ax_m.get_legend_handles_labels()[0] + ax_n.get_legend_handles_labels()[0]
    ax_m.legend(handles=handles, loc="upper left", fontsize="small")
    time_axis(ax_m)
    return fig
