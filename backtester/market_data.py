"""`MarketData`: the prepared tables of one run, looked up per market by time.

What a decision observes (``Context.price``, ``oracle``, ``funding_rate``, ``history``) and the
marks :meth:`Result.marks <backtester.result.Result.marks>` reports at a time are read here from
the kernel's own input arrays, so the oracle rows derived from trades (``prepare``) have one
definition.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


class MarketData:
    """Per-market views of the prepared arrays for observed-data lookups (searchsorted)."""

    def __init__(self, inp):
        self._inp = inp
        self._rows = {}

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
