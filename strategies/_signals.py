"""Helpers shared by the ready-made strategies: decision-time prices, what a decision has
observed, a rolling price window, and the liquidation-distance cap of the margin contract.

Everything here keeps decisions free of look-ahead: a value used at decision time ``t`` comes
from rows with ``ts <= t - feed_latency`` (what the :class:`~backtester.Context` has seen).

Examples
--------
>>> from strategies._signals import liquidation_cap
>>> round(liquidation_cap(10_000.0, mmf=0.012, distance=0.15, side=1), 2)   # long notional cap
62421.97
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def check_finite(strategy, *names) -> None:
    """``ValueError`` naming the first parameter of ``names`` that is not a finite number.

    A NaN leverage makes every planned target NaN, which the contract reads as "no order at
    this decision", and an infinite one a target no band can trade: either way the strategy
    would silently stay flat.

    Examples
    --------
    >>> from strategies import BuyAndHold
    >>> check_finite(BuyAndHold(leverage=float("nan")), "leverage")
    Traceback (most recent call last):
    ...
    ValueError: BuyAndHold: leverage must be a finite number, got nan
    """
    for name in names:
        value = getattr(strategy, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value):
            raise ValueError(f"{type(strategy).__name__}: {name} must be a finite number, got {value!r}")


def _last_prices(data, market: str, times: pd.DatetimeIndex) -> pd.Series:
    """Last trade price at or before each time (what a decision at that time has seen)."""
    return pd.Series(data.prices_at("trades", market, times), index=times)


#: how many rolling means :func:`rolling_mean` keeps (a sweep's distinct windows)
ROLLING_KEPT = 64
_rolling_memo: dict = {}


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (NaN until ``window`` are there), as
    pandas' ``rolling(window, min_periods=window).mean()`` computes it. Read-only.

    Remembered for read-only inputs (such as ``Dataset.prices_at``'s, which a sweep's runs
    share): a sweep over ``fast`` x ``slow`` windows computes each window once, not once per
    combination. A writable input is computed afresh each time (it could change in place).

    Examples
    --------
    >>> rolling_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    """
    key = (id(values), window)
    hit = _rolling_memo.get(key)
    if hit is not None and hit[0] is values:
        return hit[1]
    out = pd.Series(values).rolling(window, min_periods=window).mean().to_numpy()
    out.setflags(write=False)
    if not values.flags.writeable:  # keep the input alive with its result: ids stay unique
        _rolling_memo[key] = (values, out)
        while len(_rolling_memo) > ROLLING_KEPT:
            del _rolling_memo[next(iter(_rolling_memo))]
    return out


def funding_series(data, market: str) -> pd.Series:
    """The funding rates of ``market`` as a Series on their UTC timestamps (sorted, one per ts).

    Examples
    --------
    >>> import data_loaders as dl
    >>> funding_series(dl.sample(), "BTC-USD").size
    144
    """
    f = data.funding
    f = f.filter(pc.equal(f.column("market").cast(pa.string()), market))
    ts = pd.to_datetime(f.column("ts").cast(pa.int64()).to_numpy(), utc=True)
    s = pd.Series(f.column("rate").to_numpy(zero_copy_only=False), index=ts, name="rate")
    s = s.sort_index(kind="stable")
    return s[~s.index.duplicated(keep="last")]


def observed_lag(ctx) -> int:
    """How far behind the decision time the context's market data is (feed latency, ns)."""
    return int(ctx.ts - ctx.seen_ts)


def liquidation_cap(equity: float, mmf: float, distance: float, side: int, other_mmr: float = 0.0) -> float:
    """Largest notional whose liquidation price is at least ``distance`` (fraction of price) away.

    From the margin contract (docs/simulation.md): an account is liquidated when its net
    collateral ``NC = Q + sum S_i (P_i - E_i)`` falls under ``MMR = sum |S_i| P_i MMF_i``. Holding
    the other positions fixed, a position of ``S`` at price ``P0`` (net collateral ``NC0`` now)
    has ``NC(P) = NC0 + S (P - P0)``; liquidation at ``P_liq`` solves
    ``NC0 + S (P_liq - P0) = |S| P_liq m + MMR_other``. Asking for ``P_liq = P0 (1 - D)`` (long)
    or ``P0 (1 + D)`` (short) gives the notional cap ``|S| P0``:

        long:  (NC0 - MMR_other) / (D + m (1 - D))
        short: (NC0 - MMR_other) / (D + m (1 + D))

    equivalently, for a lone position at leverage ``L = |S| P0 / NC0``, the distance is
    ``(1/L - m) / (1 - m)`` long and ``(1/L - m) / (1 + m)`` short.

    Parameters
    ----------
    equity : float
        Net collateral of the account now.
    mmf : float
        Maintenance margin fraction of the market.
    distance : float
        Required distance ``D`` from the current price to the liquidation price (0.15 = 15 %).
    side : {1, -1}
        Long or short.
    other_mmr : float
        Maintenance requirement of the account's other positions.

    Returns
    -------
    float
        The cap (0 when the account cannot carry the others already).

    Examples
    --------
    >>> round(liquidation_cap(1_000.0, mmf=0.0, distance=0.25, side=-1), 6)   # 4x: 25 % away
    4000.0
    """
    if side not in (1, -1):
        raise ValueError(f"side must be 1 or -1, got {side!r}")
    if not 0 < distance < 1:
        raise ValueError(f"distance must be in (0, 1), got {distance!r}")
    room = max(equity - other_mmr, 0.0)
    return room / (distance + mmf * (1.0 - side * distance))


class PriceWindow:
    """The last ``size`` decision-time prices, oldest first (a tiny ring buffer).

    Examples
    --------
    >>> w = PriceWindow(3)
    >>> for p in (1.0, 2.0, 3.0, 4.0):
    ...     w.push(p)
    >>> w.values().tolist(), w.full
    ([2.0, 3.0, 4.0], True)
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"window size must be >= 1, got {size!r}")
        self._buf = np.full(size, np.nan)
        self._n = 0

    def push(self, value: float) -> None:
        self._buf[self._n % len(self._buf)] = value
        self._n += 1

    @property
    def full(self) -> bool:
        return self._n >= len(self._buf)

    def values(self) -> np.ndarray:
        k = len(self._buf)
        if self._n < k:
            return self._buf[: self._n].copy()
        i = self._n % k
        return np.concatenate([self._buf[i:], self._buf[:i]])
