"""Trade tape, book top and oracle built from the price paths.

Arrivals (per market, per second ``s``) are Poisson with a modulated intensity::

    lambda[s] ∝ season(s) * sigma[s] / annual_vol * burst[s] * (1 + excitation[s])

* ``season``: ``1 + 0.3 cos(2 pi (hour - 15) / 24)`` (busiest around the US open, 15:00 UTC),
  times 0.8 on Saturdays and Sundays;
* ``burst``: a two-state Markov-modulated Poisson process, calm spells of mean 20 min and bursts
  of mean 90 s at 6x the rate;
* ``excitation``: each price jump lifts the rate by 10x, decaying with a 60 s half-life (a
  self-exciting, Hawkes-like response to news);

normalised so the mean is ``trades_per_second``. Times inside a second are uniform (ns).

A trade is buyer-initiated with probability ``logistic(1.5 z + 0.7 m + f)``: ``z`` is the
standardised return over the second before the trade, ``m`` the standardised momentum of the
completed seconds (EWMA, half-life 30 s) and ``f`` a persistent order-flow imbalance (AR(1),
half-life 60 s, sd 0.7). Sides depend only on the path up to the trade, never on its future;
it prints at the ask (buyers) or the bid (sellers) of the quote around the path::

    half_spread = mid * spread_bps / 2e4 * sqrt(sigma / annual_vol)
    bid = floor_to_tick(mid - half_spread),  ask = max(ceil_to_tick(mid + half_spread), bid + tick)

Notional is lognormal (median ``median_notional``, log-sd 1.5) and, for 5 % of trades, multiplied
by a Pareto (alpha 1.5) factor, capped at 5000x the median: the 99th percentile is about 35x the
median (the real Binance BTCUSDT tape in ``data_loaders/data``: 71x, log-sd about 1.8). Sizes
are rounded to the market's step (at least one step).
"""
from __future__ import annotations

import numpy as np

from ._common import DAY_NS, NS, SECONDS_PER_YEAR, ar1, halflife_phi, round_to, stationary_ar1

SEASON_AMPLITUDE = 0.3
SEASON_PEAK_HOUR = 15.0
WEEKEND_FACTOR = 0.8
CALM_MEAN_S, BURST_MEAN_S, BURST_FACTOR = 1200.0, 90.0, 6.0
JUMP_EXCITATION, JUMP_EXCITATION_HALFLIFE_S = 10.0, 60.0
SIDE_BETA, FLOW_SD, FLOW_HALFLIFE_S = 1.5, 0.7, 60.0
MOMENTUM_BETA, MOMENTUM_HALFLIFE_S = 0.7, 30.0
SIZE_LOG_SD, TAIL_SHARE, TAIL_ALPHA, MAX_NOTIONAL_RATIO = 1.5, 0.05, 1.5, 5000.0

#: median notional per trade (USD); other markets 500
MEDIAN_NOTIONAL = {"BTC-USD": 3_000.0, "ETH-USD": 2_000.0}
DEFAULT_MEDIAN_NOTIONAL = 500.0


def seasonality(ts_ns: np.ndarray) -> np.ndarray:
    """Intraday and weekly activity factor at times ``ts_ns``."""
    hour = (ts_ns % DAY_NS) / (3600 * NS)
    day = (ts_ns // DAY_NS + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    intraday = 1 + SEASON_AMPLITUDE * np.cos(2 * np.pi * (hour - SEASON_PEAK_HOUR) / 24)
    return intraday * np.where(day >= 5, WEEKEND_FACTOR, 1.0)


def burst_state(n: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplier per second of an alternating calm/burst renewal process (starts calm or bursting
    with the stationary probabilities)."""
    mean_cycle = CALM_MEAN_S + BURST_MEAN_S
    k = int(n / mean_cycle * 1.5) + 16
    first_burst = rng.random() < BURST_MEAN_S / mean_cycle
    calm = rng.exponential(CALM_MEAN_S, k)
    burst = rng.exponential(BURST_MEAN_S, k)
    while calm.sum() + burst.sum() < n:  # rare top-up, still deterministic
        calm = np.concatenate([calm, rng.exponential(CALM_MEAN_S, k)])
        burst = np.concatenate([burst, rng.exponential(BURST_MEAN_S, k)])
    spells = np.empty(2 * len(calm))
    spells[0::2], spells[1::2] = (burst, calm) if first_burst else (calm, burst)
    edges = np.round(np.cumsum(spells)).astype(np.int64)
    state = np.zeros(n + 1, dtype=np.int64)
    np.add.at(state, np.minimum(edges, n), 1)  # number of switches before each second
    switches = np.cumsum(state[:n])
    bursting = (switches % 2 == 1) ^ first_burst
    return np.where(bursting, BURST_FACTOR, 1.0)


def intensity(paths, i: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Expected trades in each second of market ``i`` (mean ``rate`` per second)."""
    n = paths.n_seconds
    sec_ts = paths.start_ns + np.arange(n, dtype=np.int64) * NS
    vol = paths.sigma[i] / paths.annual_vol[i] if paths.annual_vol[i] > 0 else np.ones(n)
    hit = (paths.jump[i] != 0).astype(np.float64) * JUMP_EXCITATION
    excite = ar1(hit, halflife_phi(JUMP_EXCITATION_HALFLIFE_S), 0.0)
    lam = seasonality(sec_ts) * vol * burst_state(n, rng) * (1.0 + excite)
    return lam * (rate / lam.mean())


def quotes(paths, i: int, ts_ns: np.ndarray, tick: float, spread_bps: float):
    """(mid, bid, ask) of market ``i`` at ``ts_ns``."""
    mid = paths.price_at(i, ts_ns)
    n = paths.n_seconds
    sec = np.clip((ts_ns - paths.start_ns) // NS, 0, max(n - 1, 0))
    vol = paths.sigma[i][sec] / paths.annual_vol[i] if paths.annual_vol[i] > 0 else 1.0
    half = mid * spread_bps / 2e4 * np.sqrt(vol)
    bid = np.maximum(round_to(mid - half, tick, "floor"), tick)
    ask = np.maximum(round_to(mid + half, tick, "ceil"), round_to(bid + tick, tick, "nearest"))
    return mid, bid, ask


def trades(paths, i: int, rng: np.random.Generator, *, rate: float, median_notional: float, tick: float,
           step: float, spread_bps: float, quote=None):
    """(ts_ns, price, size, side) of market ``i``, sorted by time.

    ``quote(ts_ns) -> (mid, bid, ask)`` replaces :func:`quotes` (an L2 book's touch: see
    :mod:`.levels`); it draws nothing from ``rng``, so times, sides and notionals stay the same.
    """
    n = paths.n_seconds
    empty = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int8))
    if rate <= 0 or n == 0:
        return empty
    counts = rng.poisson(intensity(paths, i, rate, rng))
    total = int(counts.sum())
    sec = np.repeat(np.arange(n, dtype=np.int64), counts)
    ts = paths.start_ns + sec * NS + rng.integers(0, NS, total)
    ts.sort()  # sec is sorted, so sorting ts only reorders within a second
    # side: the price move of the last second before the trade, recent momentum, and a
    # persistent order-flow imbalance; nothing after the trade's own time
    lp = paths.log_price[i]
    scale = paths.sigma[i] * np.sqrt(1.0 / SECONDS_PER_YEAR)
    z_sec = _standardise(np.diff(lp), scale)
    phi = halflife_phi(MOMENTUM_HALFLIFE_S)
    momentum = ar1((1.0 - phi) * z_sec, phi, 0.0) / np.sqrt((1.0 - phi) / (1.0 + phi))
    momentum = np.concatenate([[0.0], momentum[:-1]])  # completed seconds only
    z = _standardise(paths.log_at(i, ts) - paths.log_at(i, ts - NS), scale[sec])
    flow = stationary_ar1(rng, n, halflife_phi(FLOW_HALFLIFE_S), FLOW_SD)
    p_buy = 1.0 / (1.0 + np.exp(-(SIDE_BETA * z + (MOMENTUM_BETA * momentum + flow)[sec])))
    side = np.where(rng.random(total) < p_buy, 1, -1).astype(np.int8)
    mid, bid, ask = quotes(paths, i, ts, tick, spread_bps) if quote is None else quote(ts)
    price = np.where(side > 0, ask, bid)
    notional = median_notional * np.exp(SIZE_LOG_SD * rng.standard_normal(total))
    tail = rng.random(total) < TAIL_SHARE
    pareto = (1.0 - rng.random(total)) ** (-1.0 / TAIL_ALPHA)
    notional = np.minimum(np.where(tail, notional * pareto, notional), MAX_NOTIONAL_RATIO * median_notional)
    size = np.maximum(round_to(notional / price, step, "nearest"), step)
    return ts, price, size, side


def _standardise(r: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Return / per-second volatility, clipped to +-10 (jumps, zero volatility)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(scale > 0, r / scale, np.sign(r) * 10.0)
    return np.clip(np.nan_to_num(z), -10.0, 10.0)


def book_top(paths, i: int, rng: np.random.Generator, ts_ns: np.ndarray, *, tick: float, step: float,
             spread_bps: float, median_depth: float):
    """(bid, bid_size, ask, ask_size) at ``ts_ns``; depth (USD, lognormal, log-sd 0.7) thins when
    volatility is high."""
    mid, bid, ask = quotes(paths, i, ts_ns, tick, spread_bps)
    n = paths.n_seconds
    sec = np.clip((ts_ns - paths.start_ns) // NS, 0, max(n - 1, 0))
    vol = paths.sigma[i][sec] / paths.annual_vol[i] if paths.annual_vol[i] > 0 else 1.0
    depth = median_depth / np.sqrt(vol) / mid
    z = rng.standard_normal((2, len(ts_ns)))
    bid_size = np.maximum(round_to(depth * np.exp(0.7 * z[0]), step, "nearest"), step)
    ask_size = np.maximum(round_to(depth * np.exp(0.7 * z[1]), step, "nearest"), step)
    return bid, bid_size, ask, ask_size


def oracle_prices(paths, i: int, ts_ns: np.ndarray, delay_ns: int) -> np.ndarray:
    """Oracle price at ``ts_ns``: the path ``delay_ns`` earlier (flat at the start price before
    the first grid point)."""
    return paths.price_at(i, np.asarray(ts_ns, dtype=np.int64) - delay_ns)
