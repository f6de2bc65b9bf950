"""`synthetic()`: a deterministic multi-market Dataset of trades, funding, oracle, latency, book."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pyarrow as pa

from ..dataset import Dataset
from ..validate import conform
from . import levels, tape
from ._common import (DAY_NS, check_seed, describe_ns, dict_array, merge_order, per_key, step_size, stream,
                      tick_size, to_ns, to_timestamp, ts_array)
from .funding import FundingModel, funding_table
from .prices import PricePaths, _markets, n_seconds, price_paths
from .venues import check_venues, describe, latency_table, resolve_outages

GENERATOR = "data_loaders.synthetic"


def synthetic(days=3, markets=("BTC-USD", "ETH-USD"), start="2024-01-01", seed=0, *,
              start_prices=None, trades_per_second=0.5, annual_vol=0.6, correlation=0.8,
              jump_intensity_per_day=1.0, jump_scale=0.02, vol_of_vol=0.5, vol_halflife="6h",
              spread_bps=None, median_notional=None, funding=True, funding_interval="1h",
              funding_models=None, oracle_every="1s", oracle_delay="2s", venues=None,
              trace_every="1min", outages=None, book=False, book_every="1s", book_levels=0) -> Dataset:
    """Generate a deterministic synthetic multi-market :class:`~data_loaders.Dataset`.

    Prices follow correlated stochastic-volatility paths with jumps on a one-second grid; the
    trade tape, book top and oracle are read off those paths; funding and the venue latency
    traces are generated from streams of their own. Every table passes
    :func:`data_loaders.conform`, so it is canonical.

    Parameters
    ----------
    days : float
        Length of the dataset; tables cover ``[start, start + days)``. Fractions are fine
        (``10 / 1440`` is ten minutes). Peak memory is about 200 bytes per market-second with
        a one-second oracle (7 days x 2 markets: ~0.3 GB, 30 days: ~1 GB); for long spans use
        a coarser ``oracle_every``, and for funding over decades
        :func:`~data_loaders.synthetic.synthetic_funding`.
    markets : sequence of str
        Market names (a single string is one market).
    start : str or Timestamp
        First instant (naive means UTC).
    seed : int
        Root seed. Each market, venue and component draws from its own
        :class:`numpy.random.SeedSequence` child addressed by name, so adding, removing or
        reordering markets or venues leaves everything else unchanged (with a scalar
        ``correlation``), and toggling ``book`` or ``outages`` changes nothing else.
    start_prices : dict, optional
        market -> first price; defaults BTC-USD 40,000, ETH-USD 2,500, others 100.
    trades_per_second : float or dict
        Mean trade arrival rate per market over the whole span (0 for no trades). The dYdX v4
        BTC-USD tape prints roughly 0.2-2 trades a second.
    annual_vol : float or dict
        Long-run annualised volatility of the diffusive part (realised BTC 2022-2023: 0.5-0.7).
        Jumps add ``jump_intensity_per_day * 365 * jump_scale**2`` of annual variance.
    correlation : float or array_like
        Correlation of the markets' Brownian increments (and log-volatility shocks): a scalar in
        [0, 1] or a full matrix in market order (factored by Cholesky). BTC/ETH daily returns
        2022-2023 correlated about 0.8. The scalar is also the share of jumps that hit every market.
    jump_intensity_per_day : float
        Expected price jumps per market per day (compound Poisson).
    jump_scale : float or dict
        Standard deviation of a jump's log return (Laplace distributed).
    vol_of_vol : float
        Standard deviation of log volatility (a stationary OU process).
    vol_halflife : str or Timedelta
        Half-life of volatility regimes.
    spread_bps : float, optional
        Typical quoted spread in basis points of the mid (at least one tick); widens with
        ``sqrt(sigma / annual_vol)``. Buyer-initiated trades print at the ask, sellers at the bid.
        Default 0.5; with ``book_levels`` and no ``spread_bps`` the quote is the L2 book's touch,
        whose spread is counted in ticks and calibrated to the real BTCUSDT book (one tick 94 %
        of the time; see :mod:`data_loaders.synthetic.levels`). Trade times, sides and
        notionals do not depend on the spread.
    median_notional : float or dict, optional
        Median trade notional in USD; defaults BTC-USD 3,000, ETH-USD 2,000, others 500. The
        tail is Pareto-like (5 % of trades times a Pareto(1.3) factor).
    funding : bool or pyarrow.Table or pandas.DataFrame
        ``True``: generate hourly funding calibrated to dYdX (see
        :mod:`data_loaders.synthetic.funding`: BTC-USD mean 5.3e-6, sd 2.4e-5 per hour in the long
        run, clamped at +-0.006 per hour, v4's 8-hour clamp ``6 * (IMF - MMF)``); ``False``: no
        funding. A funding table is used as given (conformed, not re-stamped or filtered); its
        null ``oracle_price`` values of generated markets inside the span are filled from the
        synthetic oracle, and ``meta["real"]`` lists it.
    funding_interval : str or Timedelta
        Funding period; rows at clock-aligned multiples of it (``"1h"``: on the hour, UTC). Whole
        hours accrue the hourly rate (``"8h"`` sums eight hourly rates).
    funding_models : dict, optional
        market -> :class:`~data_loaders.synthetic.funding.FundingModel` overriding the calibration.
    oracle_every : str or Timedelta
        Oracle cadence; rows at ``start + k * oracle_every``.
    oracle_delay : str or Timedelta
        The oracle at ``t`` is the path price at ``t - oracle_delay`` (it lags the tape). Before
        the start the path is flat at the start price.
    venues : dict, optional
        venue name -> :class:`VenueProfile`; default ``{"dydx": APP_CHAIN}``.
    trace_every : str or Timedelta
        Cadence of the latency trace rows of each venue (from ``start``).
    outages : None, 'random' or list of Outage
        ``None``: always up. A list: each :class:`Outage` writes ``up=False`` at its exact start,
        marks the regular rows in ``[start, start + duration)`` down and writes ``up=True`` at its
        exact end. ``'random'``: per venue ``max(1, Poisson(days / outage_every_days))`` outages of
        ``outage_hours`` (1-10 h) with uniform starts, drawn from the seed. Resolved outages are in
        ``meta["params"]["outages"]``.
    book : bool
        Also generate the book top (bid/ask around the path, sizes lognormal with a median of 30x
        ``median_notional``, thinner in high volatility).
    book_every : str or Timedelta
        Cadence of book-top rows, and of the L2 book's updates between trades.
    book_levels : int
        Levels per side of an L2 order book (``book_levels`` table; 0, the default: none).
        Consistent with the trades: each trade prints at the touch of the book in force, which
        is never crossed; the touch's size is refilled after trades. Spread, top size and their
        spread are calibrated to the real BTCUSDT bookTicker in ``data_loaders/data``
        (:mod:`data_loaders.synthetic.levels`). A market has book-top rows or level rows, not
        both: ``book=True`` with ``book_levels`` is an error. Adds about ``2 + 2 * n`` rows per
        trade when the touch moves at most trades (for 1 M trades and ``n = 5``, ~10 M rows).

    Returns
    -------
    Dataset
        ``markets`` holds ``tick_size``, ``step_size``, ``start_price`` and ``synthetic: True``
        per market; ``meta`` the generator name, seed, all parameters, and which tables are
        ``generated`` and which ``real`` (supplied).

    Raises
    ------
    ValueError, TypeError
        For out-of-range or malformed parameters, naming the parameter.

    See Also
    --------
    price_paths : the paths alone (same arguments and seed give the same paths).
    synthetic_funding : funding alone, cheap for very long spans.

    Notes
    -----
    Ticks: BTC-USD 1, ETH-USD 0.1, else 0.01 (finer below a price of 10); steps: BTC-USD 0.0001,
    ETH-USD 0.001, else about one dollar of notional. While a venue is down the tape keeps
    printing (it stands for price discovery across venues); the engine enforces the downtime.

    Examples
    --------
    >>> import pandas as pd
    >>> from data_loaders.synthetic import synthetic, Outage, APP_CHAIN, OPTIMISTIC_ROLLUP
    >>> ds = synthetic(days=0.5, markets=("BTC-USD", "ETH-USD"), seed=7,
    ...                venues={"dydx": APP_CHAIN, "arbitrum": OPTIMISTIC_ROLLUP},
    ...                outages=[Outage("arbitrum", "2h", "90min")])
    >>> ds.markets_traded
    ['BTC-USD', 'ETH-USD']
    >>> ds.funding.num_rows                      # 12 hourly rows per market
    24
    >>> lat = ds.latency.to_pandas()
    >>> down = lat[(lat.venue == "arbitrum") & ~lat.up]
    >>> str(down.ts.min()), str(down.ts.max())
    ('2024-01-01 02:00:00+00:00', '2024-01-01 03:29:00+00:00')
    >>> synthetic(days=0.5, seed=7).trades.equals(synthetic(days=0.5, seed=7).trades)
    True
    """
    markets = _markets(markets)
    seed = check_seed(seed)
    n_seconds(days)
    start_ts = to_timestamp(start)
    start_ns = start_ts.value
    end_ns = start_ns + int(round(float(days) * DAY_NS))
    every = {name: to_ns(v, name) for name, v in (("oracle_every", oracle_every), ("trace_every", trace_every),
                                                  ("funding_interval", funding_interval), ("book_every", book_every))}
    for name, v in every.items():
        if v <= 0:
            raise ValueError(f"{name}: expected a positive duration, got {describe_ns(v)}")
    delay_ns = to_ns(oracle_delay, "oracle_delay")
    if delay_ns < 0:
        raise ValueError(f"oracle_delay: expected a duration >= 0, got {oracle_delay!r}")
    tps = per_key(trades_per_second, markets, 0.5, "trades_per_second")
    notional = per_key(median_notional, markets,
                       lambda m: tape.MEDIAN_NOTIONAL.get(m, tape.DEFAULT_MEDIAN_NOTIONAL), "median_notional")
    for name, d in (("trades_per_second", tps), ("median_notional", notional)):
        bad = {m: v for m, v in d.items() if not (np.isfinite(v) and v >= 0)}
        if bad:
            raise ValueError(f"{name}: expected finite values >= 0, got {bad}")
    n_levels = _check_levels(book_levels, book)
    tick_spread = bool(n_levels) and spread_bps is None  # the L2 touch's calibrated spread
    spread_bps = 0.5 if spread_bps is None else spread_bps
    if not (np.isfinite(spread_bps) and spread_bps >= 0):
        raise ValueError(f"spread_bps: expected >= 0, got {spread_bps!r}")
    venues = check_venues(venues)
    outage_map = resolve_outages(outages, venues, start_ns, end_ns, seed)

    paths = price_paths(days, markets, start_ts, seed, start_prices=start_prices, annual_vol=annual_vol,
                        correlation=correlation, jump_intensity_per_day=jump_intensity_per_day,
                        jump_scale=jump_scale, vol_of_vol=vol_of_vol, vol_halflife=vol_halflife)
    p0 = dict(zip(markets, paths.start_price))
    ticks = {m: tick_size(m, p0[m]) for m in markets}
    steps = {m: step_size(m, p0[m]) for m in markets}

    quote = {}
    for i, m in enumerate(markets):
        if tick_spread:
            per_second = levels.spread_ticks(stream(seed, "book_spread", m), paths.n_seconds)
            quote[m] = functools.partial(levels.touch, paths, i, tick=ticks[m], ticks=per_second)
        else:
            quote[m] = functools.partial(tape.quotes, paths, i, tick=ticks[m], spread_bps=spread_bps)
    tape_parts = _trade_parts(paths, seed, tps, notional, ticks, steps, spread_bps, end_ns,
                              quote if tick_spread else None)
    trades = _stack("trades", paths.markets, tape_parts)
    oracle_ts = np.arange(start_ns, end_ns, every["oracle_every"], dtype=np.int64)
    oracle = _stack("oracle", markets, [(oracle_ts, {"price": tape.oracle_prices(paths, i, oracle_ts, delay_ns)})
                                        for i in range(len(markets))])

    def oracle_at(market, ts_ns):
        """The oracle price in force at ``ts_ns`` (last oracle row at or before it)."""
        k = (np.asarray(ts_ns, dtype=np.int64) - start_ns) // every["oracle_every"]
        return tape.oracle_prices(paths, paths.index(market), start_ns + np.maximum(k, 0) * every["oracle_every"],
                                  delay_ns)

    real, generated = [], ["trades", "oracle", "latency"]
    if isinstance(funding, bool):
        funding_tab = None
        if funding:
            funding_tab = funding_table(markets, start_ns, end_ns, seed, every["funding_interval"],
                                        _check_models(funding_models), oracle_at)
            generated.insert(1, "funding")
    else:
        funding_tab = _given_funding(funding, markets, start_ns, end_ns, oracle_at)
        real.append("funding")
    latency = latency_table(venues, start_ns, end_ns, every["trace_every"], seed, outage_map)
    book_tab = None
    if book:
        book_ts = np.arange(start_ns, end_ns, every["book_every"], dtype=np.int64)
        parts = []
        for i, m in enumerate(markets):
            b = tape.book_top(paths, i, stream(seed, "book", m), book_ts, tick=ticks[m], step=steps[m],
                              spread_bps=spread_bps, median_depth=30.0 * notional[m])
            parts.append((book_ts, dict(zip(("bid", "bid_size", "ask", "ask_size"), b))))
        book_tab = _stack("book", markets, parts)
        generated.append("book")

    levels_tab = None
    if n_levels:
        grid = np.arange(start_ns, end_ns, every["book_every"], dtype=np.int64)
        parts = []
        for i, (m, (ts, cols)) in enumerate(zip(markets, tape_parts)):
            rows = levels.book_levels(paths, i, stream(seed, "book_levels", m), quote[m], n_levels=n_levels,
                                      tick=ticks[m], step=steps[m], median_notional=notional[m], grid_ts=grid,
                                      trade_ts=ts, trade_side=cols["side"], trade_size=cols["size"])
            parts.append((rows[0], dict(zip(("side", "price", "size", "is_snapshot"), rows[1:]))))
        levels_tab = _stack("book_levels", markets, parts)
        generated.append("book_levels")

    params = {
        "days": float(days), "markets": list(markets), "start": start_ts.isoformat(), "seed": seed,
        "start_prices": p0, "trades_per_second": tps, "annual_vol": dict(zip(markets, paths.annual_vol)),
        "correlation": np.asarray(correlation).tolist(), "jump_intensity_per_day": float(jump_intensity_per_day),
        "jump_scale": per_key(jump_scale, markets, 0.02, "jump_scale"), "vol_of_vol": float(vol_of_vol),
        "vol_halflife": describe_ns(to_ns(vol_halflife, "vol_halflife")), "spread_bps": float(spread_bps),
        "median_notional": notional, "funding": "given" if real else bool(funding),
        "funding_interval": describe_ns(every["funding_interval"]),
        "funding_models": {m: vars(v) for m, v in (funding_models or {}).items()},
        "oracle_every": describe_ns(every["oracle_every"]), "oracle_delay": describe_ns(delay_ns),
        "trace_every": describe_ns(every["trace_every"]), "book": bool(book),
        "book_every": describe_ns(every["book_every"]), "book_levels": n_levels,
        "spread": "btcusdt-ticks" if tick_spread else "spread_bps",
        "outages_arg": outages if outages is None or isinstance(outages, str) else "list",
        **describe(venues, outage_map),
    }
    meta = {"generator": GENERATOR, "seed": seed, "params": params, "real": real, "generated": generated,
            "end": pd.Timestamp(end_ns, tz="UTC").isoformat()}
    info = {m: {"tick_size": ticks[m], "step_size": steps[m], "start_price": p0[m], "synthetic": True}
            for m in markets}
    return Dataset(trades=trades, funding=funding_tab, oracle=oracle, latency=latency, book=book_tab,
                   book_levels=levels_tab, markets=info, meta=meta)


def _check_levels(book_levels, book) -> int:
    if isinstance(book_levels, bool) or not isinstance(book_levels, (int, np.integer)) or book_levels < 0:
        raise ValueError(f"book_levels: expected a number of levels per side >= 0, got {book_levels!r}")
    if book_levels and book:
        raise ValueError("book=True and book_levels: a market has book-top rows or level rows, not both; "
                         "pass one of them")
    return int(book_levels)


def _check_models(models):
    if models is None:
        return None
    if not isinstance(models, dict) or not all(isinstance(v, FundingModel) for v in models.values()):
        raise TypeError("funding_models: expected a dict of market -> FundingModel")
    return models


def _trade_parts(paths: PricePaths, seed, tps, notional, ticks, steps, spread_bps, end_ns, quote) -> list:
    """Per market ``(ts, columns)`` of the tape; ``quote``: market -> the L2 touch, or None."""
    parts = []
    for i, m in enumerate(paths.markets):
        ts, price, size, side = tape.trades(paths, i, stream(seed, "trades", m), rate=tps[m],
                                            median_notional=notional[m], tick=ticks[m], step=steps[m],
                                            spread_bps=spread_bps, quote=None if quote is None else quote[m])
        keep = ts < end_ns  # the grid may overshoot a fractional last second
        parts.append((ts[keep], {"price": price[keep], "size": size[keep], "side": side[keep]}))
    return parts


def _stack(kind: str, markets, parts) -> pa.Table:
    """Canonical ``kind`` table from per-market (ts, columns) parts, interleaved in time order."""
    ts = np.concatenate([p[0] for p in parts])
    code = np.repeat(np.arange(len(markets)), [len(p[0]) for p in parts])
    order = merge_order(ts, code)
    cols = {"ts": ts_array(ts[order]), "market": dict_array(code[order], markets)}
    for name in parts[0][1]:
        cols[name] = pa.array(np.concatenate([p[1][name] for p in parts])[order])
    return conform(pa.table(cols), kind, source=f"{GENERATOR} ({kind})")


def _given_funding(funding, markets, start_ns, end_ns, oracle_at) -> pa.Table:
    table = conform(funding, "funding", source="synthetic(funding=...)")
    if table.num_rows == 0 or table.column("oracle_price").null_count == 0:
        return table
    ts = table.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
    mk = table.column("market").cast(pa.string()).to_numpy(zero_copy_only=False)
    px = table.column("oracle_price").to_numpy(zero_copy_only=False).astype(np.float64)  # nulls -> nan
    for m in markets:
        fill = np.isnan(px) & (mk == m) & (ts >= start_ns) & (ts < end_ns)
        if fill.any():
            px[fill] = oracle_at(m, ts[fill])
    filled = pa.array(px, mask=np.isnan(px))
    i = table.schema.get_field_index("oracle_price")
    return table.set_column(i, table.schema.field(i), filled)


__all__ = ["synthetic"]
