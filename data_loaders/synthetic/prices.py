"""Correlated price paths on a one-second grid: stochastic volatility plus compound-Poisson jumps.

Model (per market ``i``, one step ``dt`` = 1 s expressed in years)::

    log P[t+1] = log P[t] + sigma_i[t] * sqrt(dt) * W_i[t] - sigma_i[t]**2 * dt / 2 + J_i[t]
    sigma_i[t] = annual_vol_i * exp(v_i[t] - vol_of_vol**2)       # E[sigma**2] = annual_vol**2
    v_i        = stationary OU (AR(1) per second), sd vol_of_vol, half-life vol_halflife

* ``W`` are standard normals correlated across markets. A scalar ``correlation`` rho is the
  equicorrelation matrix, whose Cholesky factor is written in its one-factor form
  ``W_i = sqrt(rho) * Z_common + sqrt(1 - rho) * Z_i``; a matrix is factored with
  :func:`numpy.linalg.cholesky` (``W = L @ Z``). The log-volatility shocks share the same
  structure, so volatility regimes are common to the markets.
* Jumps arrive ``jump_intensity_per_day`` times a day per market; a share rho of them (the mean
  off-diagonal correlation for a matrix) are market-wide events hitting every market in the same
  direction. Jump log-sizes are Laplace with standard deviation ``jump_scale_i``.
* ``annual_vol`` is the diffusive part; jumps add ``jump_intensity_per_day * 365 * jump_scale**2``
  of annual variance (defaults: 0.6 diffusive, about 0.71 in total).

The path is flat at the start price before the first grid point and at its last value after the
last one; between grid points it is interpolated linearly in log price (:meth:`PricePaths.at`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import (DAY_NS, NS, SECONDS_PER_YEAR, check_seed, halflife_phi, per_key, stationary_ar1, stream,
                      to_ns, to_timestamp, START_PRICES, DEFAULT_START_PRICE)


@dataclass(frozen=True)
class PricePaths:
    """Generated log-price paths of several markets on a common one-second grid.

    Attributes
    ----------
    markets : tuple of str
    start_ns : int
        Grid point 0, nanoseconds since the epoch (UTC).
    log_price : ndarray, shape (n_markets, n_seconds + 1)
        Natural log of the price at each grid point.
    sigma : ndarray, shape (n_markets, n_seconds)
        Annualised diffusive volatility in force during each second.
    jump : ndarray, shape (n_markets, n_seconds)
        Log jump that happened during each second (0 for most seconds).
    annual_vol : tuple of float
        The long-run diffusive volatility of each market.
    start_price : tuple of float
        The first price of each market (exactly; prices are ``start_price * exp(log_price -
        log_price[:, :1])``, so the path starts at the given price without rounding residue).
    """

    markets: tuple
    start_ns: int
    log_price: np.ndarray
    sigma: np.ndarray
    jump: np.ndarray
    annual_vol: tuple
    start_price: tuple

    @property
    def n_seconds(self) -> int:
        return self.log_price.shape[1] - 1

    @property
    def ts(self) -> np.ndarray:
        """Grid timestamps, int64 ns."""
        return self.start_ns + np.arange(self.n_seconds + 1, dtype=np.int64) * NS

    def index(self, market: str) -> int:
        try:
            return self.markets.index(market)
        except ValueError:
            raise KeyError(f"no path for market {market!r}; have {list(self.markets)}") from None

    def price(self, market: str) -> np.ndarray:
        """Prices at the grid points."""
        i = self.index(market)
        return self.start_price[i] * np.exp(self.log_price[i] - self.log_price[i, 0])

    def log_at(self, i: int, ts_ns) -> np.ndarray:
        """Log price of market number ``i`` at arbitrary times (int64 ns), interpolated."""
        t = np.asarray(ts_ns, dtype=np.int64) - self.start_ns
        n = self.n_seconds
        t = np.clip(t, 0, n * NS)
        sec = np.minimum(t // NS, max(n - 1, 0))
        frac = (t - sec * NS) / NS
        lp = self.log_price[i]
        if n == 0:
            return np.full(t.shape, lp[0])
        return lp[sec] + frac * (lp[sec + 1] - lp[sec])

    def at(self, market: str, ts) -> np.ndarray:
        """Price of ``market`` at times ``ts`` (int64 ns, datetime64 or Timestamps)."""
        ts = np.asarray(ts)
        if ts.dtype.kind == "M":
            ts = ts.astype("datetime64[ns]").astype(np.int64)
        elif ts.dtype == object:
            ts = np.array([to_timestamp(x, "ts").value for x in ts.ravel()], dtype=np.int64).reshape(ts.shape)
        return self.price_at(self.index(market), ts)

    def price_at(self, i: int, ts_ns) -> np.ndarray:
        """Price of market number ``i`` at times ``ts_ns`` (int64 ns), interpolated in log price."""
        return self.start_price[i] * np.exp(self.log_at(i, ts_ns) - self.log_price[i, 0])


def _cholesky(correlation, markets) -> tuple[np.ndarray | None, float]:
    """(Cholesky factor or None for the scalar one-factor form, common-jump share)."""
    k = len(markets)
    c = np.asarray(correlation, dtype=np.float64)
    if c.ndim == 0:
        rho = float(c)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"correlation: a scalar must lie in [0, 1], got {rho}; pass a matrix "
                             "for negative correlations")
        return None, rho
    if c.shape != (k, k):
        raise ValueError(f"correlation: expected a scalar or a {k}x{k} matrix (markets {list(markets)}), "
                         f"got shape {c.shape}")
    if not np.allclose(c, c.T) or not np.allclose(np.diag(c), 1.0):
        raise ValueError("correlation: the matrix must be symmetric with a unit diagonal")
    try:
        chol = np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise ValueError("correlation: the matrix is not positive definite") from None
    off = c[~np.eye(k, dtype=bool)]
    return chol, float(np.clip(off.mean(), 0.0, 1.0)) if k > 1 else 0.0


def price_paths(days=3.0, markets=("BTC-USD", "ETH-USD"), start="2024-01-01", seed=0, *,
                start_prices=None, annual_vol=0.6, correlation=0.8, jump_intensity_per_day=1.0,
                jump_scale=0.02, vol_of_vol=0.5, vol_halflife="6h") -> PricePaths:
    """Generate the price paths :func:`~data_loaders.synthetic.synthetic` trades, quotes and
    oracles are built from (same arguments, same seed, same paths).

    Parameters
    ----------
    days : float
        Length; the grid has ``ceil(days * 86400)`` one-second steps.
    markets : sequence of str
    start : str or Timestamp
        Grid point 0 (naive means UTC).
    seed : int
    start_prices : dict, optional
        market -> first price; BTC-USD 40,000, ETH-USD 2,500, others 100 by default.
    annual_vol : float or dict
        Long-run annualised diffusive volatility (market -> value for a dict).
    correlation : float or array_like
        Correlation of the Brownian increments: a scalar in [0, 1] for every pair (one-factor
        form, so adding a market leaves the others' paths unchanged) or a full matrix in market
        order (Cholesky; then market ``i`` depends on markets ``0..i``).
    jump_intensity_per_day : float
        Expected jumps per market per day.
    jump_scale : float or dict
        Standard deviation of a jump's log return (Laplace distributed).
    vol_of_vol : float
        Standard deviation of log volatility (0 gives constant volatility).
    vol_halflife : str or Timedelta
        Half-life of log-volatility deviations.

    Returns
    -------
    PricePaths

    Examples
    --------
    >>> from data_loaders.synthetic import price_paths
    >>> p = price_paths(days=0.01, markets=["BTC-USD"], seed=1)
    >>> p.log_price.shape
    (1, 865)
    >>> float(p.price("BTC-USD")[0])
    40000.0
    """
    markets = _markets(markets)
    seed = check_seed(seed)
    start_ns = to_timestamp(start).value
    n = n_seconds(days)
    k = len(markets)
    p0 = per_key(start_prices, markets, lambda m: START_PRICES.get(m, DEFAULT_START_PRICE), "start_prices")
    vol = per_key(annual_vol, markets, 0.6, "annual_vol")
    jscale = per_key(jump_scale, markets, 0.02, "jump_scale")
    for name, d, lo in (("start_prices", p0, 0.0), ("annual_vol", vol, -1.0), ("jump_scale", jscale, -1.0)):
        bad = {m: v for m, v in d.items() if not (np.isfinite(v) and v > lo)}
        if bad:
            raise ValueError(f"{name}: expected {'> 0' if lo == 0 else '>= 0'}, got {bad}")
    if not (np.isfinite(jump_intensity_per_day) and jump_intensity_per_day >= 0):
        raise ValueError(f"jump_intensity_per_day: expected >= 0, got {jump_intensity_per_day}")
    if not (np.isfinite(vol_of_vol) and vol_of_vol >= 0):
        raise ValueError(f"vol_of_vol: expected >= 0, got {vol_of_vol}")
    chol, share = _cholesky(correlation, markets)
    phi_v = halflife_phi(to_ns(vol_halflife, "vol_halflife") / NS)

    rngs = [stream(seed, "price", m) for m in markets]
    common = stream(seed, "price", "__common__")
    # own draws, in a fixed order per stream: Brownian, log-vol, jumps
    z = np.empty((k, n))
    v = np.empty((k, n))
    for i, r in enumerate(rngs):
        z[i] = r.standard_normal(n)
        v[i] = stationary_ar1(r, n, phi_v, vol_of_vol)
    if chol is None:
        a, b = np.sqrt(share), np.sqrt(1.0 - share)
        z = b * z + a * common.standard_normal(n)
        v = b * v + a * stationary_ar1(common, n, phi_v, vol_of_vol)
    else:
        z = chol @ z
        v = chol @ v  # a unit-diagonal correlation keeps each market's log-vol sd at vol_of_vol
    sigma = np.asarray([vol[m] for m in markets])[:, None] * np.exp(v - vol_of_vol ** 2)
    del v
    dt = 1.0 / SECONDS_PER_YEAR
    steps = sigma * np.sqrt(dt) * z - 0.5 * sigma * sigma * dt
    del z

    jump = np.zeros((k, n))
    scales = np.asarray([jscale[m] for m in markets])
    lam = jump_intensity_per_day * n / 86400.0
    if n and lam > 0:
        m0 = common.poisson(lam * share)
        at0, size0 = common.integers(0, n, m0), common.laplace(0.0, 1 / np.sqrt(2), m0)
        for i, r in enumerate(rngs):
            mi = r.poisson(lam * (1.0 - share))
            at = np.concatenate([at0, r.integers(0, n, mi)])
            size = np.concatenate([size0, r.laplace(0.0, 1 / np.sqrt(2), mi)]) * scales[i]
            np.add.at(jump[i], at, size)
    steps += jump
    log_price = np.empty((k, n + 1))
    log_price[:, 0] = np.log([p0[m] for m in markets])
    np.cumsum(steps, axis=1, out=log_price[:, 1:])
    log_price[:, 1:] += log_price[:, :1]
    return PricePaths(markets=markets, start_ns=start_ns, log_price=log_price, sigma=sigma, jump=jump,
                      annual_vol=tuple(vol[m] for m in markets), start_price=tuple(p0[m] for m in markets))


def n_seconds(days) -> int:
    """Number of one-second steps that cover ``days``."""
    try:
        d = float(days)
    except (TypeError, ValueError):
        raise TypeError(f"days: expected a number, got {days!r}") from None
    if not (np.isfinite(d) and d > 0):
        raise ValueError(f"days: expected a positive number of days, got {days!r}")
    return int(np.ceil(round(d * DAY_NS) / NS))


def _markets(markets) -> tuple:
    if isinstance(markets, str):
        markets = (markets,)
    markets = tuple(markets)
    if not markets:
        raise ValueError("markets: expected at least one market name")
    for m in markets:
        if not isinstance(m, str) or not m:
            raise TypeError(f"markets: expected non-empty strings, got {m!r}")
    if len(set(markets)) != len(markets):
        raise ValueError(f"markets: duplicate names in {list(markets)}")
    return markets
