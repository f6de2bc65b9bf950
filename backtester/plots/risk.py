"""Liquidation ladder (where each position and the account would be liquidated) beside the
equity under uniform price shocks."""
from __future__ import annotations

import numpy as np

from .. import analysis as an
from ._common import LOSS, MAINT, NET, empty_note, grid, quote, title_of


def plot_ladder(res, at=None, shocks=None, fig=None):
    """Liquidation ladder at ``at`` (left) and equity after uniform price shocks (right).

    Left: one row per position; the current price at 0 %, the price move of that market alone
    that liquidates the account (red cross), and the uniform move of every price that does
    (orange diamond), labelled with the prices. Right: equity and maintenance requirement
    (MMR) after each shock; below the MMR line the account would be liquidated.

    Parameters
    ----------
    res : Result
    at : timestamp, optional
        Default: :func:`backtester.analysis.default_at` (largest gross notional).
    shocks : array of float, optional
        Fractional moves for the right panel (default -50 % .. +50 % in 5 % steps).
    fig : Figure or SubFigure, optional

    Returns
    -------
    Figure (or the SubFigure given); ``fig.axes`` is ``[ladder, shocks]``. In the ladder,
    ``collections[1]`` / ``[2]`` hold ``liq_move`` / ``account_liq_move`` of
    :func:`~backtester.analysis.liquidation_ladder` in percent (x) per row (y); in the shock
    panel ``lines[0]`` is :func:`~backtester.analysis.shock_table` equity over shock in percent.

    Examples
    --------
    >>> fig = plot_ladder(res, at="2022-11-08 12:00")   # doctest: +SKIP
    """
    lad = an.liquidation_ladder(res, at)
    when = lad.attrs["at"]
    table = an.shock_table(res, when, shocks)
    fig, (ax_l, ax_s) = grid(fig, 1, 2, figsize=(12, 4.8), width_ratios=[1.2, 1])
    unit = quote(res)
    _ladder(ax_l, lad)
    ax_l.set_title(f"Liquidation ladder at {when:%Y-%m-%d %H:%M} UTC")
    x = table.index.to_numpy() * 100.0
    ax_s.plot(x, table["equity"].to_numpy(), color=NET, lw=1.6, marker="o", ms=3, label="equity (NC)")
    ax_s.plot(x, table["mmr"].to_numpy(), color=MAINT, ls="--", lw=1.2, label="maintenance requirement (MMR)")
    below = table["accounts_below"].to_numpy() > 0
    if below.any():
        ax_s.fill_between(x, table["equity"], table["mmr"], where=below, color=LOSS, alpha=0.2,
                          label="liquidated", interpolate=True)
    ax_s.axhline(0.0, color="black", lw=0.8)
    ax_s.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax_s.set_xlabel("uniform price move (%)")
    ax_s.set_ylabel(f"equity after the move ({unit})")
    ax_s.set_title("Equity after price shocks")
    ax_s.legend(loc="best", fontsize="small")
    ax_s.grid(alpha=0.3)
    fig.suptitle(title_of(res))
    return fig


def _ladder(ax, lad) -> None:
    y = np.arange(len(lad))
    move = lad["liq_move"].to_numpy(float) * 100.0
    acc_move = lad["account_liq_move"].to_numpy(float) * 100.0
    ax.scatter(np.zeros(len(lad)), y, marker="|", s=400, color="black", label="current price", zorder=4)
    ax.scatter(move, y, marker="X", s=90, color=LOSS, label="this market alone", zorder=5)
    ax.scatter(acc_move, y, marker="D", s=55, color="darkorange", label="all prices by the same %", zorder=5)
    for i, (_, r) in enumerate(lad.iterrows()):
        ax.plot([0.0, np.nan_to_num(move[i])], [i, i], color=LOSS, lw=2, alpha=0.35)
        side = "long" if r["position"] > 0 else "short"
        alone = _price_move(r["liq_price"], move[i])
        together = _price_move(r["account_liq_price"], acc_move[i])
        # anchored to the left edge so the label never runs out of the Axes
        book = ""
        if np.isfinite(r.get("close_depth", np.nan)):  # a market with book data: what a close meets
            close = f"closes at {r['close_price']:,.2f}" if np.isfinite(r["close_price"]) else "exceeds it"
            book = f"; book shows {r['close_depth']:.4g} ({close})"
        ax.annotate(f"{side} {abs(r['position']):.4g} @ {r['price']:,.2f}{book}\n"
                    f"liquidated at {alone} alone, {together} all together",
                    (0.02, i), xycoords=("axes fraction", "data"), xytext=(0, 9), textcoords="offset points",
                    fontsize="small")
    ax.set_yticks(y, [f"{m}\n({a})" for m, a in zip(lad.index, lad["account"])])
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("price move to liquidation (%)")
    ax.grid(axis="x", alpha=0.3)
    if len(lad):
        ax.set_ylim(-0.7, len(lad) - 0.3)
        ax.legend(loc="best", fontsize="small")
        _clip_moves(ax, np.concatenate([move, acc_move]), y)
    else:
        empty_note(ax, "no open positions")


def _clip_moves(ax, moves, y, limit: float = 100.0) -> None:
    """Keep the axis readable: a move beyond +-``limit`` % (a long backed by more than its
    notional needs +3000 %) is shown as an arrow at the edge; the label keeps its value."""
    finite = np.abs(moves[np.isfinite(moves)])
    if not len(finite) or finite.max() <= limit:
        return
    lim = max(min(1.15 * finite.max(), limit), 5.0)
    ax.set_xlim(-lim, lim)
    rows = np.concatenate([y, y])
    far = np.isfinite(moves) & (np.abs(moves) > lim)
    for sign, marker in ((1.0, ">"), (-1.0, "<")):
        pick = far & (np.sign(moves) == sign)
        if pick.any():
            ax.scatter(np.full(pick.sum(), sign * lim * 0.97), rows[pick], marker=marker, s=60, color="grey",
                       zorder=6)
    ax.text(0.99, 0.01, f"arrows: beyond {lim:+.0f} %", transform=ax.transAxes, ha="right", va="bottom",
            fontsize="x-small", color="grey")


def _price_move(price: float, move_pct: float) -> str:
    return "never" if np.isnan(price) else f"{price:,.2f} ({move_pct:+.3g} %)"
