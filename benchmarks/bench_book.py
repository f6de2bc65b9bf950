"""Order-book execution: events per second with book rows in the stream, next to the bare loop.

Prints, for a synthetic BTC tape of about a million trades (4 a second, no oracle table) with a
book top every second (L1) and, where the generator provides it, an L2 book of
``--levels`` levels a side:

* ``events``: what one run replays (trades, derived oracle rows, book rows, trace rows);
* CPU ms per run and events/s of: the kernel with no decisions (``silent``), a ``MaCross(20/100)``
  deciding every minute on the fast path (its market orders walk the book), and the same
  ``MaCross`` on the tape without its book (the trade-tape rules);
* each as a ratio to a bare numba loop over the same number of events (``bare_events_nb``:
  one pass over the event prices, an EMA step each: the floor of any event loop). Issue 13's
  target: the fast path with book data within 5x of it.

Usage::

    python benchmarks/bench_book.py                 # 1M trades, L1 and L2, 5 repetitions
    python benchmarks/bench_book.py --quick         # 0.1M trades, 2 repetitions
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np
from _common import DENSE_RATE, Machine, alternate, ratios, spread
from numba import njit

import backtester as bt
import data_loaders as dl
from backtester.driver import Prepared, engine_for
from backtester.engine import Engine
from strategies import MaCross


@njit(cache=True)
def bare_events_nb(price):
    """An EMA step per event: one pass over ``price`` (the events' prices)."""
    e = price[0]
    acc = 0.0
    for i in range(price.shape[0]):
        e += 0.1 * (price[i] - e)
        acc += e
    return acc


class Silent(bt.Strategy):
    """No decisions: the event loop alone."""

    every = []

    def init(self, data):
        pass


def book_tape(n_million: float, levels: int):
    """The dense tape with a book top (``levels == 0``) or an L2 book of ``levels`` a side."""
    days = n_million * 1e6 / DENSE_RATE / 86400
    kw = dict(book=True) if levels == 0 else dict(book_levels=levels)
    ds = dl.synthetic(days=days, markets=("BTC-USD",), seed=0, trades_per_second=DENSE_RATE,
                      oracle_every="1s", book_every="1s", **kw)
    return dataclasses.replace(ds, oracle=None)


def fast_path(strategy, ds, cfg):
    """A function running ``strategy``'s fast-path kernel on ``ds`` (init run once, untimed)."""
    prepared = Prepared.build(ds, cfg)
    eng = engine_for(strategy, prepared)
    inputs, layout = eng.inputs, eng.layout

    def run():
        e = Engine(inputs, layout, cfg)
        e.run()
        return e

    return run, len(inputs.ev_ts), len(inputs.bk_ts)


def bench(label: str, ds, cfg, reps: int, log) -> None:
    runs = {}
    events = {}
    for name, strategy, data in (("silent", Silent(), ds),
                                 ("macross-1min", MaCross(fast=20, slow=100, every="1min"), ds),
                                 ("macross-1min, no book", MaCross(fast=20, slow=100, every="1min"),
                                  dataclasses.replace(ds, book=None, book_levels=None))):
        fn, n_ev, n_book = fast_path(strategy, data, cfg)
        runs[name] = fn
        events[name] = (n_ev, n_book)
    n_ev = events["silent"][0]
    prices = np.random.default_rng(0).normal(100.0, 1.0, n_ev)
    runs["bare"] = lambda: bare_events_nb(prices)
    times = alternate(runs, reps, log=log)
    print(f"-- {label}: {events['silent'][0]:,} events, of which {events['silent'][1]:,} book rows --")
    print(f"{'engine':24s} {'events':>11s} {'median ms':>10s} {'M events/s':>11s}   x bare loop (same events): min / median / max")
    for name in runs:
        n = events.get(name, (n_ev, 0))[0]
        med = spread(times[name])[1]
        r = spread(ratios(times, name, "bare")) if name != "bare" else (1.0, 1.0, 1.0)
        print(f"{name:24s} {n:11,d} {1e3 * med:10.1f} {n / med / 1e6:11.1f}   {r[0]:6.1f} / {r[1]:6.1f} / {r[2]:6.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--million", type=float, default=1.0, help="trades in the tape, millions (default 1)")
    parser.add_argument("--levels", type=int, default=10, help="L2 levels a side (default 10; 0: L1 only)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--quick", action="store_true", help="0.1M trades and 2 repetitions: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.million, args.reps = min(args.million, 0.1), min(args.reps, 2)
    machine = Machine()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    cfg = bt.SimConfig(initial_cash=100_000.0, sample_every="1min")
    print(f"== bench_book: {args.million:g}M trades at {DENSE_RATE:g}/s, no oracle table, book every 1 s; "
          f"{args.reps} repetitions, CPU time (process_time) per run ==")
    for levels in ([0, args.levels] if args.levels else [0]):
        t0 = time.perf_counter()
        try:
            ds = book_tape(args.million, levels)
        except TypeError as exc:  # a generator without L2 books
            print(f"-- L2 ({levels} levels): skipped, the synthetic generator cannot make it ({exc}) --")
            continue
        log(f"generated in {time.perf_counter() - t0:.1f} s")
        bench("L1 book top" if levels == 0 else f"L2 book, {levels} levels a side", ds, cfg, args.reps, log)
    print(machine.note())


if __name__ == "__main__":
    main()
