"""Engine throughput against a bare numba loop over the same arrays.

Prints, for synthetic tapes of 1 and 10 million trades:

* bare loop: an ``@njit`` moving-average crossover that only computes position and cash per
  trade (the practical limit on this machine);
* fast path: ``MaCross`` planned in ``init`` with every rule on (latency trace, downtime,
  funding, oracle, margin checks, liquidation, finality, equity samples), one kernel call;
* hybrid: the same market, a Python ``on_decision`` each minute that does nothing, so the
  difference to the fast path is the driver's overhead per decision.

Usage::

    python benchmarks/bench_engine.py            # 1M and 10M trades
    python benchmarks/bench_engine.py --sizes 1  # 1M only

Kernel time excludes data preparation (reported separately); the first call of a session
includes numba's load from its on-disk cache (reported as "first call").
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from _common import bare_ma_cross_nb, tape

import backtester as bt
from backtester.driver import decision_times
from backtester.engine import Engine
from backtester.kernel.enums import MODE_HOOK
from backtester.prepare import layout_for, prepare
from strategies import MaCross


class Idle(bt.Strategy):
    """Decides every minute and does nothing: measures the hybrid driver's own cost."""

    params = dict(market="BTC-USD")
    every = "1min"

    def on_decision(self, ctx):
        pass


def timed(fn, repeat=3):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench(n_million: float) -> dict:
    t0 = time.perf_counter()
    ds = tape(n_million)
    gen_s = time.perf_counter() - t0
    n_trades = ds.trades.num_rows
    cfg = bt.SimConfig(initial_cash=100_000.0, sample_every="1min")
    strat = MaCross(fast=20, slow=100, leverage=3.0)

    price = np.ascontiguousarray(ds.trades.column("price").to_numpy())
    t0 = time.perf_counter()
    bare_ma_cross_nb(price[:100], 20, 100)
    first_bare = time.perf_counter() - t0
    bare_s, _ = timed(lambda: bare_ma_cross_nb(price, 20 * 60, 100 * 60))

    # fast path: prepare once, time the kernel alone
    lay = layout_for(ds, cfg)
    times = decision_times(strat.every, lay.start_ns, lay.end_ns)
    strat.decision_times = times
    strat.clear_targets()
    strat.init(ds)
    # a copy: planned targets may be read-only (pandas 3), which numba types apart, so passing
    # them as they are would time (and compile) another specialization than bt.run uses
    targets = strat.planned_targets[0]["BTC-USD"][:, None].copy()
    t0 = time.perf_counter()
    inp, _ = prepare(ds, cfg, lay, decision_ts=times.asi8, targets=targets, target_mode=1)
    prep_s = time.perf_counter() - t0
    n_events = len(inp.ev_ts)

    def fast():
        eng = Engine(inp, lay, cfg)
        eng.run()
        return eng

    t0 = time.perf_counter()
    fast()
    first_fast = time.perf_counter() - t0
    fast_s, eng = timed(fast)

    # hybrid: same data, decisions every minute to Python
    inp_h, _ = prepare(ds, cfg, lay, decision_ts=times.asi8, target_mode=MODE_HOOK)

    def hybrid():
        from backtester.driver import _hybrid
        e = Engine(inp_h, lay, cfg)
        _hybrid(e, Idle(), progress=False)
        return e

    hybrid_s, _ = timed(hybrid, repeat=2)
    no_decisions = inp._replace(dc_ts=inp.dc_ts[:0], tg_value=inp.tg_value[:0])

    def silent():
        e = Engine(no_decisions, lay, cfg)
        e.run()
        return e

    silent_s, _ = timed(silent)
    n_dec = len(times)
    return dict(
        trades=n_trades, events=n_events, decisions=n_dec, generate_s=gen_s, prepare_s=prep_s,
        bare_s=bare_s, bare_trades_per_s=n_trades / bare_s, first_bare_call_s=first_bare,
        fast_s=fast_s, fast_trades_per_s=n_trades / fast_s, fast_events_per_s=n_events / fast_s,
        first_fast_call_s=first_fast, ratio_fast_to_bare=fast_s / bare_s,
        fills=int(eng.state.counters[2]),
        hybrid_s=hybrid_s, hybrid_overhead_us_per_decision=(hybrid_s - silent_s) / n_dec * 1e6,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10", help="millions of trades, comma-separated")
    args = parser.parse_args(argv)
    for size in (float(s) for s in args.sizes.split(",")):
        r = bench(size)
        print(f"\n== {r['trades']:,} trades, {r['events']:,} events, {r['decisions']:,} decisions ==")
        print(f"generate {r['generate_s']:.2f} s, prepare {r['prepare_s']:.2f} s")
        print(f"bare numba loop     {r['bare_s'] * 1e3:8.1f} ms  {r['bare_trades_per_s'] / 1e6:8.1f} M trades/s")
        print(f"fast path (all on)  {r['fast_s'] * 1e3:8.1f} ms  {r['fast_trades_per_s'] / 1e6:8.1f} M trades/s"
              f"  {r['fast_events_per_s'] / 1e6:6.1f} M events/s  ratio to bare {r['ratio_fast_to_bare']:.1f}x"
              f"  ({r['fills']:,} fills)")
        print(f"hybrid (1/min)      {r['hybrid_s'] * 1e3:8.1f} ms  overhead "
              f"{r['hybrid_overhead_us_per_decision']:.1f} us per decision")
        print(f"first call in this process: bare {r['first_bare_call_s']:.2f} s, engine "
              f"{r['first_fast_call_s']:.2f} s (numba cache load or compile)")


if __name__ == "__main__":
    main()
