"""What the benchmark scripts share: the bare numba loop, the synthetic tapes, CPU-time ratios.

Not a test module: nothing here asserts anything, and tests never import it.

* :func:`bare_ma_cross_nb`: the floor of any engine, an ``@njit`` crossover over the trade prices.
* :func:`tape`: a synthetic BTC tape of ``n_million`` trades; ``dense=True`` gives issue 11's
  workload (4 trades a second, so 1-s decisions are about a quarter of the trades, and no oracle
  table: the engine derives one oracle row per trade).
* :func:`cpu_per_call`, :func:`alternate`, :func:`spread`: CPU time (``time.process_time``) of
  engines run in turn within one process, and min/median/max of per-repetition ratios.
* :class:`Machine`: how busy the machine was (load averages, CPU share of this process).
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import time

from numba import njit

import data_loaders as dl

#: trades per second of issue 11's dense tape: 1M trades span ~2.9 days, ~250k 1-s decisions
DENSE_RATE = 4.0


@njit(cache=True)
def bare_ma_cross_nb(price, fast, slow):
    """Position and cash of an EMA crossover, one step per trade: the floor of any engine."""
    af = 2.0 / (fast + 1.0)
    aslow = 2.0 / (slow + 1.0)
    ef = price[0]
    es = price[0]
    pos = 0.0
    cash = 0.0
    for i in range(price.shape[0]):
        p = price[i]
        ef += af * (p - ef)
        es += aslow * (p - es)
        target = 1.0 if ef > es else -1.0
        if target != pos:
            cash -= (target - pos) * p
            pos = target
    return pos, cash


def tape(n_million: float, seed: int = 0, *, rate: float = 20.0, oracle: bool = True,
         dense: bool = False):
    """A one-market (BTC-USD) synthetic dataset of about ``n_million`` million trades.

    ``rate`` trades a second; ``oracle=False`` drops the oracle table (the engine then derives
    one oracle row per trade, ``oracle_delay`` after it). ``dense=True`` is issue 11's tape:
    ``rate=DENSE_RATE, oracle=False``.
    """
    if dense:
        rate, oracle = DENSE_RATE, False
    days = n_million * 1e6 / rate / 86400
    ds = dl.synthetic(days=days, markets=("BTC-USD",), seed=seed, trades_per_second=rate,
                      oracle_every="1s")
    if not oracle:
        ds = dataclasses.replace(ds, oracle=None)  # an empty canonical oracle table
    return ds


def cpu_per_call(fn, min_cpu: float = 0.05) -> float:
    """CPU seconds of one call of ``fn``: calls it until at least ``min_cpu`` s of CPU went by
    (so a 4-ms loop is not timed at the clock's grain) and returns the mean."""
    n = 0
    t0 = time.process_time()
    while True:
        fn()
        n += 1
        used = time.process_time() - t0
        if used >= min_cpu:
            return used / n


def alternate(engines: dict, reps: int, min_cpu: float = 0.05, log=None) -> dict:
    """Run every engine of ``{name: fn}`` once per repetition, in turn (the order rotates each
    repetition), ``reps`` times; returns ``{name: [cpu seconds per call, one per repetition]}``.

    Each ``fn`` is called once first (warm-up, untimed: numba's cache load or compile)."""
    for name, fn in engines.items():
        t0 = time.perf_counter()
        fn()
        if log:
            log(f"  warm-up {name}: {time.perf_counter() - t0:.2f} s")
    names = list(engines)
    out = {n: [] for n in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(cpu_per_call(engines[name], min_cpu))
        if log:
            log(f"  repetition {r + 1}/{reps} done")
    return out


def spread(values) -> tuple:
    """(min, median, max)."""
    v = list(values)
    return min(v), statistics.median(v), max(v)


def ratios(times: dict, name: str, base: str) -> list:
    """Per-repetition ratios ``times[name][r] / times[base][r]``."""
    return [a / b for a, b in zip(times[name], times[base])]


class Machine:
    """Load averages and this process's CPU share between :meth:`start` and :meth:`note`."""

    def __init__(self):
        self.load0 = os.getloadavg()
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def note(self) -> str:
        load1 = os.getloadavg()
        wall = time.perf_counter() - self.wall0
        cpu = time.process_time() - self.cpu0
        return (f"machine: {os.cpu_count()} cores; load average (1/5/15 min) "
                f"{'/'.join(f'{x:.2f}' for x in self.load0)} at start, "
                f"{'/'.join(f'{x:.2f}' for x in load1)} at end; this process used "
                f"{cpu:.1f} s CPU in {wall:.1f} s wall ({100 * cpu / max(wall, 1e-9):.0f} % of a core)")


def vectorbt_or_none():
    """``vectorbt`` if importable, else None (printing why): a peer, never a dependency."""
    try:
        import vectorbt as vbt
    except Exception as exc:  # noqa: BLE001 - any import failure means: skip the comparison
        print(f"vectorbt: skipped ({type(exc).__name__}: {exc}); install the 'bench' extra "
              "(pip install -e '.[bench]') to compare")
        return None
    return vbt


def second_bars(ds, market: str = "BTC-USD", every: str = "1s"):
    """The last trade price per ``every`` bar (labelled by the bar's end, so the close at ``t``
    is the last price with ``ts <= t``, what ``MaCross`` sees at a decision at ``t``), carried
    forward over bars without trades. A pandas Series with a naive (UTC) index: vectorbt turns a
    tz-aware index into an array of Timestamp objects on every call (most of its time on 1-s
    bars, and garbage-collection pauses), which a user who knows would avoid."""
    import pandas as pd

    ts, px = ds.market_prices("trades", market)
    s = pd.Series(px, index=pd.to_datetime(ts))
    return s.resample(every, label="right", closed="right").last().ffill()
