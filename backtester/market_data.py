"""`MarketData`: the prepared tables of one run, looked up per market by time.

What a decision observes (``Context.price``, ``oracle``, ``funding_rate``, ``history``) and the
marks :meth:`Result.marks <backtester.result.Result.marks>` reports at a time are read here from
the kernel's own input arrays, so the oracle rows derived from trades (``prepare``) have one
definition.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd


class BookView(NamedTuple):
    """A book as a decision sees it (:meth:`Context.book <backtester.context.Context.book>`):
    prices and sizes per side, best first."""

    bid_price: np.ndarray
    bid_size: np.ndarray
    ask_price: np.ndarray
    ask_size: np.ndarray

    @property
    def best_bid(self) -> float:
        """Best bid price (NaN when the side is empty)."""
        return float(self.bid_price[0]) if len(self.bid_price) else float("nan")

    @property
    def best_ask(self) -> float:
        """Best ask price (NaN when the side is empty)."""
        return float(self.ask_price[0]) if len(self.ask_price) else float("nan")

    @property
    def mid(self) -> float:
        """Mid price (NaN unless both sides show a level)."""
        return (self.best_bid + self.best_ask) / 2


class MarketData:
    """Per-market views of the prepared arrays for observed-data lookups (searchsorted)."""

    def __init__(self, inp):
        self._inp = inp
        self._rows = {}
        self._book = None  # (level arrays, next row): the observed book, replayed forward

    def book(self, m: int, t: int, depth: int, mult: float):
        """The book of market ``m`` from the rows stamped ``<= t``, shown under the slippage
        multiplier ``mult`` (docs/simulation.md, "Order book"): ``(bid_px, bid_sz, ask_px,
        ask_sz)``, best first, at most ``depth`` levels a side."""
        from .engine import book_state
        from .kernel.book_nb import available_nb, replay_until_nb, shown_levels_nb, side_row_nb
        from .kernel.state import CI_BOOK_LEVELS

        inp = self._inp
        if self._book is None or t < self._book[2]:  # decisions move forward; restart otherwise
            lv = book_state(len(inp.mk_venue), int(inp.cfg_i[CI_BOOK_LEVELS]))
            self._book = [lv, 0, t]
        lv, start, _ = self._book
        self._book[1] = replay_until_nb(inp.bk_ts, inp.bk_market, inp.bk_side, inp.bk_price, inp.bk_size,
                                        inp.bk_flag, lv["lv_key"], lv["lv_size"], lv["lv_taken"], lv["lv_n"],
                                        start, t)
        self._book[2] = t
        out = []
        for side in (1, -1):
            r = side_row_nb(m, side)
            n = int(lv["lv_n"][r])
            shown = min(shown_levels_nb(n, mult), depth)
            keys = lv["lv_key"][r, n - shown:n][::-1]
            sizes = np.array([available_nb(q, 0.0, mult) for q in lv["lv_size"][r, n - shown:n][::-1]])
            out += [keys * side, sizes]
        return BookView(*out)

    def _of(self, kind: str, m: int):
        key = (kind, m)
        if key not in self._rows:
            inp = self._inp
            col = {"trade": inp.tr_market, "oracle": inp.or_market, "funding": inp.fu_market}[kind]
            ts = {"trade": inp.tr_ts, "oracle": inp.or_ts, "funding": inp.fu_ts}[kind]
            rows = np.flatnonzero(col == m)
            self._rows[key] = (rows, ts[rows])
        return self._rows[key]

    def _last(self, kind, m, t, values):
        rows, ts = self._of(kind, m)
        i = ts.searchsorted(t, "right") - 1  # the method: this runs a few times per decision
        return float(values[rows[i]]) if i >= 0 else float("nan")

    def last_trade(self, m, t):
        return self._last("trade", m, t, self._inp.tr_price)

    def last_oracle(self, m, t):
        return self._last("oracle", m, t, self._inp.or_price)

    def last_funding(self, m, t):
        return self._last("funding", m, t, self._inp.fu_rate)

    def trades_between(self, m, start, end) -> pd.DataFrame:
        rows, ts = self._of("trade", m)
        lo, hi = np.searchsorted(ts, start, side="right"), np.searchsorted(ts, end, side="right")
        r = rows[lo:hi]
        return pd.DataFrame({"ts": pd.to_datetime(self._inp.tr_ts[r], utc=True),
                             "price": self._inp.tr_price[r], "size": self._inp.tr_size[r]})
