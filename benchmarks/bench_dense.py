"""Dense decisions on a trades-only tape: issue 11's workload, as ratios to a bare numba loop.

On a synthetic BTC tape of 1M trades (4 a second, ~2.9 days) WITHOUT an oracle table (the
engine derives one oracle row per trade), prepared once, this prints the CPU time of:

* ``bare``: the bare ``@njit`` crossover loop over the same trade prices (the floor);
* ``macross-1s`` / ``macross-1min``: ``MaCross(fast=20, slow=100)`` on the fast path (targets
  planned in ``init``, one kernel call), deciding every second / every minute;
* ``held-1h`` / ``flat-1h``: a plan-only strategy holding 1 BTC throughout (a position target
  decided hourly: one order, then a position open on every derived oracle row) and the same
  strategy never holding anything (NaN targets): the cost of a position held on a trades-only
  tape;
* ``silent``: the kernel over the same events with no decisions at all;
* ``nan-1s`` / ``equal-1s``: fast-path decisions every second that send no order (NaN targets;
  targets equal to the position, 0): kernel cost of a decision that sends nothing,
  ``(time - silent) / decisions``;
* ``hybrid-1s``: a Python ``on_decision`` that does nothing, every second (hook mode, the
  whole public run: ``run_prepared``): the driver's cost per decision beyond the strategy's
  own Python, ``(time - silent) / decisions``;
* ``vectorbt-1s``: where vectorbt is installed, ``vbt.Portfolio.from_signals`` on the same tape
  as 1-s bars with the same SMA(20/100) long/short signals (bars and signals built once,
  untimed).

The engines alternate within this one process (the order rotates every repetition), each
repetition times every engine once (``time.process_time``; short ones are repeated until
50 ms of CPU went by and averaged), and the ratios are per repetition: min/median/max over the
repetitions. The machine's load is printed: on a busy machine trust the ratios, not the
absolute times.

Usage::

    python benchmarks/bench_dense.py                # 1M trades, 5 repetitions
    python benchmarks/bench_dense.py --quick        # 0.1M trades, 2 repetitions (a smoke run)
    python benchmarks/bench_dense.py --million 0.5 --reps 3 --no-hybrid
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import (Machine, alternate, bare_ma_cross_nb, ratios, second_bars, spread, tape,
                     vectorbt_or_none)

import backtester as bt
from backtester.driver import Prepared, engine_for, is_fast_path, run_prepared
from backtester.engine import Engine
from backtester.kernel import enums as E
from backtester.prepare import with_decisions
from backtester.strategy import TARGET_KINDS
from strategies import MaCross


class Hold(bt.Strategy):
    """Plan-only: the same position target at every decision (NaN: never an order)."""

    params = dict(market="BTC-USD", position=1.0)
    every = "1h"

    def init(self, data):
        self.set_targets(self.market, np.full(len(self.decision_times), float(self.position)), kind="position")


class Idle(bt.Strategy):
    """A Python ``on_decision`` that does nothing: the hybrid driver's own cost."""

    params = dict(market="BTC-USD")
    every = "1s"

    def on_decision(self, ctx):
        pass


def kernel_fn(prepared: Prepared, inputs):
    """One fast-path kernel run over ``inputs`` (a fresh state each call)."""
    layout, config = prepared.layout, prepared.config

    def run():
        eng = Engine(inputs, layout, config)
        eng.run()
        return eng

    return run


def planned(strategy, prepared: Prepared):
    """The fast-path inputs of ``strategy`` (its ``init`` run once, timed) and its decisions."""
    t0 = time.process_time()
    eng = engine_for(strategy, prepared)
    init_s = time.process_time() - t0
    if not is_fast_path(eng):
        raise RuntimeError(f"{strategy!r} is not on the fast path")
    return eng.inputs, len(eng.inputs.dc_ts), init_s


def vbt_setup(vbt, ds, fast: int, slow: int):
    """1-s bars and SMA long/short level signals (built once, untimed) and the timed call."""
    t0 = time.process_time()
    close = second_bars(ds, every="1s")
    fast_ma = close.rolling(fast, min_periods=fast).mean()
    slow_ma = close.rolling(slow, min_periods=slow).mean()
    signal = np.sign(fast_ma - slow_ma).where(slow_ma.notna())
    long, short = (signal > 0), (signal < 0)
    setup_s = time.process_time() - t0

    def run():
        return vbt.Portfolio.from_signals(close, entries=long, exits=short, short_entries=short,
                                          short_exits=long, init_cash=100_000.0, fees=0.0005,
                                          freq="1s")

    return run, len(close), setup_s


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--million", type=float, default=1.0, help="trades in the tape, millions (default 1)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--quick", action="store_true", help="0.1M trades and 2 repetitions: a smoke run")
    parser.add_argument("--no-hybrid", action="store_true", help="leave out the hybrid run (the slowest)")
    parser.add_argument("--no-vectorbt", action="store_true", help="leave out vectorbt even if installed")
    args = parser.parse_args(argv)
    if args.quick:
        args.million, args.reps = min(args.million, 0.1), min(args.reps, 2)
    machine = Machine()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    t0 = time.perf_counter()
    ds = tape(args.million, dense=True)
    gen_s = time.perf_counter() - t0
    cfg = bt.SimConfig(initial_cash=100_000.0, sample_every="1min")
    t0 = time.perf_counter()
    prepared = Prepared.build(ds, cfg)
    prep_s = time.perf_counter() - t0
    inp0 = prepared.inputs
    n_trades, n_oracle = len(inp0.tr_ts), len(inp0.or_ts)
    price = np.ascontiguousarray(inp0.tr_price)

    engines, decisions, notes = {}, {}, []
    engines["bare"] = lambda: bare_ma_cross_nb(price, 20, 100)
    for name, strategy in (("macross-1s", MaCross(fast=20, slow=100, every="1s")),
                           ("macross-1min", MaCross(fast=20, slow=100, every="1min")),
                           ("held-1h", Hold(position=1.0, every="1h")),
                           ("flat-1h", Hold(position=np.nan, every="1h")),
                           ("nan-1s", Hold(position=np.nan, every="1s")),
                           ("equal-1s", Hold(position=0.0, every="1s"))):
        inputs, n_dec, init_s = planned(strategy, prepared)
        engines[name] = kernel_fn(prepared, inputs)
        decisions[name] = n_dec
        if name.startswith("macross"):
            notes.append(f"{name}: init (strategy Python, untimed below) {init_s * 1e3:.0f} ms CPU")
    silent = with_decisions(inp0, np.zeros(0, np.int64), np.zeros((0, len(prepared.layout.markets))),
                            TARGET_KINDS["position"])
    engines["silent"] = kernel_fn(prepared, silent)
    if not args.no_hybrid:
        idle = Idle(every="1s")
        engines["hybrid-1s"] = lambda: run_prepared(idle, prepared)
        decisions["hybrid-1s"] = decisions["nan-1s"]
    vbt = None if args.no_vectorbt else vectorbt_or_none()
    if vbt is not None:
        engines["vectorbt-1s"], n_bars, setup_s = vbt_setup(vbt, ds, 20, 100)
        decisions["vectorbt-1s"] = n_bars
        notes.append(f"vectorbt-1s: {n_bars:,} 1-s bars; resample + signals (untimed below) "
                     f"{setup_s * 1e3:.0f} ms CPU")

    log(f"{n_trades:,} trades; warming up (numba cache load or compile), then {args.reps} repetitions")
    times = alternate(engines, args.reps, log=log)

    # what the runs did (one more run each, untimed)
    fills = {n: int(engines[n]().state.counters[E.C_FILLS]) for n in engines
             if n not in ("bare", "hybrid-1s", "vectorbt-1s")}
    if vbt is not None:
        notes.append(f"vectorbt-1s: {len(engines['vectorbt-1s']().orders.records):,} orders")

    print(f"== bench_dense: {n_trades:,} trades, no oracle table ({n_oracle:,} derived oracle rows), "
          f"{len(inp0.ev_ts):,} events; generated in {gen_s:.1f} s, prepared in {prep_s:.1f} s ==")
    print(f"{args.reps} repetitions, engines alternating in one process; CPU time (process_time) per run")
    print(f"{'engine':14s} {'decisions':>10s} {'fills':>7s} {'median ms':>10s}   x bare loop: min / median / max")
    for name in engines:
        lo, med, hi = spread(ratios(times, name, "bare"))
        ms = spread(times[name])[1] * 1e3
        print(f"{name:14s} {decisions.get(name, 0):>10,} {fills.get(name, ''):>7} {ms:10.1f}   "
              f"{lo:8.1f} / {med:8.1f} / {hi:8.1f}")
    print("derived:")

    def per_decision(name):
        n = decisions[name]
        return spread([(a - b) / n * 1e6 for a, b in zip(times[name], times["silent"])])

    lo, med, hi = spread(ratios(times, "held-1h", "flat-1h"))
    print(f"  position held vs none (held-1h / flat-1h): {lo:.2f} / {med:.2f} / {hi:.2f} x")
    for name, what in (("nan-1s", "fast-path decision sending no order (NaN target)"),
                       ("equal-1s", "fast-path decision sending no order (target = position)"),
                       ("hybrid-1s", "hybrid decision, on_decision doing nothing (driver + kernel)")):
        if name in times:
            lo, med, hi = per_decision(name)
            print(f"  {what}: {lo:.2f} / {med:.2f} / {hi:.2f} us per decision over silent")
    if "vectorbt-1s" in times:
        lo, med, hi = spread(ratios(times, "macross-1s", "vectorbt-1s"))
        print(f"  macross-1s / vectorbt-1s: {lo:.1f} / {med:.1f} / {hi:.1f} x")
    for n in notes:
        print(f"  {n}")
    print(machine.note())


if __name__ == "__main__":
    main()
