"""Sweep throughput: many ``MaCross`` runs over a synthetic tape of about a million trades.

Prints:

* the kernel alone: 32 ``MaCross`` runs one kernel call each (``Engine.run``) against the same
  32 runs batched (:func:`backtester.batch.run_engines`): one kernel call on 1 thread, one call
  per thread on 2, as events/s summed over runs and as a ratio to a bare numba crossover loop
  over the same trades (``_common.bare_ma_cross_nb``) run 32 times;

then, for each sweep mode (this process on 1 and 2 threads; 2 worker processes with one
thread each):

* runs/s and wall time of the whole sweep (worker start-up and data sharing included);
* events/s summed over runs (each run replays every event of the prepared dataset: trades,
  oracle and funding rows, trace rows) and trades/s summed;
* the mean time inside a run (strategy ``init``, kernel, ``stats()``) and the sweep's own
  overhead per run (wall time x workers / runs - time inside runs);
* the scaling from 1 to 2 workers.

With ``--dense`` it runs issue 11's sweep workload instead: 100 ``MaCross`` combos (``fast`` in
5..50 by 5 x ``slow`` in 60..240 by 20, leverage 3) on the 1M-trade tape of ``bench_dense.py``
(4 trades a second, no oracle table), deciding every second and every minute, each as one
:func:`~backtester.sweep.sweep` in this process; it prints ms per combo (wall and CPU, the
whole sweep: ``init``, kernel, ``stats()``), the bare numba loop over the same trades for
scale, and, where vectorbt is installed, ``Portfolio.from_signals`` over the same 100 combos
on 1-s and 1-min bars in one call (signals built beforehand, untimed).

Usage::

    python benchmarks/bench_sweep.py --dense          # issue 11: 100 combos at 1 s and 1 min, 1 thread
    python benchmarks/bench_sweep.py --dense --quick  # the same on 0.1M trades with 20 combos
    python benchmarks/bench_sweep.py                  # 1,000 runs, 1 M trades, 1 and 2 workers
    python benchmarks/bench_sweep.py --runs 50        # a quick check
    python benchmarks/bench_sweep.py --modes 1x1,1x2 --million 0.5   # processes x threads

The grid is a :class:`~backtester.sweep.RandomSpace` over ``fast``, ``slow`` and ``leverage``
(every point distinct), on the normal venue; the dataset is prepared once per worker.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from _common import Machine, bare_ma_cross_nb, cpu_per_call, second_bars, tape, vectorbt_or_none

import backtester as bt
from backtester.batch import run_engines
from backtester.driver import Prepared, engine_for, run_prepared
from backtester.sweep import RandomSpace, sweep
from strategies import MaCross


def space(runs: int) -> RandomSpace:
    return RandomSpace({"fast": (5, 50), "slow": (60, 240), "leverage": (0.5, 5.0)}, n=runs, seed=0)


def breakdown(ds, cfg) -> dict:
    """Where one run's time goes on a shared ``Prepared`` (best of 3)."""
    t0 = time.perf_counter()
    prepared = Prepared.build(ds, cfg)
    prep_s = time.perf_counter() - t0
    best = {"init_and_kernel_s": float("inf"), "stats_s": float("inf")}
    for i in range(4):  # the first call loads the kernel from numba's cache
        t0 = time.perf_counter()
        res = run_prepared(MaCross(fast=20 + i, slow=120), prepared)
        t1 = time.perf_counter()
        res.stats()
        t2 = time.perf_counter()
        if i:
            best["init_and_kernel_s"] = min(best["init_and_kernel_s"], t1 - t0)
            best["stats_s"] = min(best["stats_s"], t2 - t1)
    return {"prepare_s": prep_s, "events": len(prepared.inputs.ev_ts), **best}


def kernel_batch(ds, cfg, k: int = 32) -> dict:
    """Kernel time of ``k`` runs: one call each, and one batched call on 1 and 2 threads."""
    prepared = Prepared.build(ds, cfg)
    strategies = [MaCross(**p) for p in space(k).points()]
    events = len(prepared.inputs.ev_ts)
    price = prepared.inputs.tr_price
    bare_ma_cross_nb(price[:100], 20, 100)
    out = {"k": k, "events": events}
    t0 = time.perf_counter()
    for _ in range(k):
        bare_ma_cross_nb(price, 20 * 60, 100 * 60)
    out["bare_s"] = time.perf_counter() - t0
    for label, n_threads in (("one_call_each", None), ("batch_1_thread", 1), ("batch_2_threads", 2)):
        best = float("inf")
        for _ in range(2):
            engines = [engine_for(s, prepared) for s in strategies]
            t0 = time.perf_counter()
            if n_threads is None:
                for e in engines:
                    e.run()
            else:
                run_engines(engines, n_threads)
            best = min(best, time.perf_counter() - t0)
        out[label] = best
    return out


def bench(ds, cfg, runs: int, workers: int, n_threads: int, events: int) -> dict:
    t0 = time.perf_counter()
    df = sweep(MaCross, space(runs), ds, config=cfg, n_jobs=workers, n_threads=n_threads, progress=False)
    wall = time.perf_counter() - t0
    n = len(df)
    inside = float(df["elapsed_s"].mean())
    return {"workers": workers, "threads": n_threads, "runs": n, "errors": int((df["status"] == "error").sum()),
            "wall_s": wall, "runs_per_s": n / wall, "events_per_s": n * events / wall,
            "trades_per_s": n * ds.trades.num_rows / wall, "inside_run_s": inside,
            "overhead_per_run_s": wall * workers / n - inside}


def dense_grid(quick: bool = False) -> dict:
    """Issue 11's 100 combos (20 with ``quick``)."""
    fast = list(range(5, 55, 5))
    slow = list(range(60, 260, 20))
    return {"fast": fast[::5] if quick else fast, "slow": slow}


def vbt_sweep(vbt, ds, grid: dict, every: str):
    """``from_signals`` over every (fast, slow) combo of ``grid`` at once, on ``every`` bars; the
    signals are built here (untimed). Returns the timed call and the number of combos."""
    import pandas as pd

    close = second_bars(ds, every=every)
    longs, shorts, keys = {}, {}, []
    for f in grid["fast"]:
        fm = close.rolling(f, min_periods=f).mean()
        for sl in grid["slow"]:
            sm = close.rolling(sl, min_periods=sl).mean()
            sig = np.sign(fm - sm).where(sm.notna())
            longs[(f, sl)], shorts[(f, sl)] = sig > 0, sig < 0
            keys.append((f, sl))
    long, short = pd.DataFrame(longs), pd.DataFrame(shorts)
    wide = pd.DataFrame({k: close for k in keys})

    def run():
        return vbt.Portfolio.from_signals(wide, entries=long, exits=short, short_entries=short,
                                          short_exits=long, init_cash=100_000.0, fees=0.0005, freq=every)

    return run, len(keys)


def dense_sweeps(args) -> None:
    """Issue 11's sweep workload: ms per combo at 1-s and 1-min decisions, in this process."""
    from strategies import MaCross

    machine = Machine()
    ds = tape(args.million, dense=True)
    cfg = bt.SimConfig(initial_cash=100_000.0, sample_every="1min")
    grid = dense_grid(args.quick)
    n = len(grid["fast"]) * len(grid["slow"])
    price = np.ascontiguousarray(ds.market_prices("trades", "BTC-USD")[1])
    bare_ma_cross_nb(price[:100], 20, 100)
    bare_s = cpu_per_call(lambda: bare_ma_cross_nb(price, 20, 100))
    print(f"== bench_sweep --dense: {n} MaCross combos on {ds.trades.num_rows:,} trades (no oracle table), "
          f"one process, {args.threads} kernel thread(s) ==")
    print(f"bare numba loop over the same trades: {bare_s * 1e3:.2f} ms CPU")
    # one combo first, untimed: numba's cache load (or compile) is not a sweep's cost
    sweep(MaCross(every="1min"), {"fast": [5], "slow": [60]}, ds, config=cfg, n_jobs=1, n_threads=args.threads,
          progress=False)
    for every in args.every.split(","):
        strategy = MaCross(leverage=3.0, every=every)
        w0, c0 = time.perf_counter(), time.process_time()
        df = sweep(strategy, grid, ds, config=cfg, n_jobs=1, n_threads=args.threads, progress=False)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        errors = int((df["status"] == "error").sum())
        print(f"every {every:5s}: {len(df)} runs in {wall:.1f} s wall, {cpu:.1f} s CPU: "
              f"{wall / len(df) * 1e3:.1f} ms wall, {cpu / len(df) * 1e3:.1f} ms CPU per combo "
              f"({cpu / len(df) / bare_s:.0f}x the bare loop); inside a run {df['elapsed_s'].mean() * 1e3:.1f} ms; "
              f"{errors} errors")
    vbt = None if args.no_vectorbt else vectorbt_or_none()
    if vbt is not None:
        for every in args.every.split(","):
            run, k = vbt_sweep(vbt, ds, grid, every)
            run()  # compile or cache load
            cpu = min(cpu_per_call(run, 0.0) for _ in range(3))
            print(f"vectorbt from_signals, {k} combos on {every} bars in one call: {cpu * 1e3:.0f} ms CPU = "
                  f"{cpu / k * 1e3:.2f} ms per combo (best of 3)")
    print(machine.note())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs per sweep (default 1000)")
    parser.add_argument("--million", type=float, default=1.0, help="trades in the tape, millions (default 1)")
    parser.add_argument("--modes", default="1x1,1x2,2x1",
                        help="comma-separated PROCESSESxTHREADS sweep modes (default 1x1,1x2,2x1)")
    parser.add_argument("--dense", action="store_true",
                        help="issue 11's workload: 100 combos on the dense 1M tape at 1-s and 1-min decisions")
    parser.add_argument("--every", default="1s,1min", help="--dense: decision cadences (default 1s,1min)")
    parser.add_argument("--threads", type=int, default=1, help="--dense: kernel threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="--dense: 0.1M trades, 20 combos")
    parser.add_argument("--no-vectorbt", action="store_true", help="--dense: leave out vectorbt")
    args = parser.parse_args(argv)
    if args.dense:
        if args.quick:
            args.million = min(args.million, 0.1)
        return dense_sweeps(args)

    ds = tape(args.million)
    cfg = bt.SimConfig(initial_cash=100_000.0, sample_every="1min")
    b = breakdown(ds, cfg)
    print(f"data: {ds.trades.num_rows:,} trades, {b['events']:,} events per run; prepare once "
          f"{b['prepare_s']:.2f} s")
    print(f"one run on a shared Prepared: init + kernel {b['init_and_kernel_s'] * 1e3:.0f} ms, "
          f"stats() {b['stats_s'] * 1e3:.0f} ms")
    kb = kernel_batch(ds, cfg)
    print(f"kernel, {kb['k']} runs (bare numba crossover loop x{kb['k']}: {kb['bare_s']:.2f} s):")
    for label in ("one_call_each", "batch_1_thread", "batch_2_threads"):
        sec = kb[label]
        print(f"  {label.replace('_', ' '):16s} {sec:6.2f} s  {kb['k'] * kb['events'] / sec / 1e6:6.1f} M events/s "
              f"summed  {sec / kb['bare_s']:.1f}x the bare loop")
    rows = []
    for mode in args.modes.split(","):
        workers, n_threads = (int(x) for x in mode.lower().split("x"))
        r = bench(ds, cfg, args.runs, workers, n_threads, b["events"])
        rows.append(r)
        where = "this process" if workers == 1 else f"{workers} processes"
        print(f"{where}, {n_threads} thread(s): {r['runs']:,} runs in {r['wall_s']:.1f} s = "
              f"{r['runs_per_s']:.1f} runs/s, {r['events_per_s'] / 1e6:.1f} M events/s, "
              f"{r['trades_per_s'] / 1e6:.1f} M trades/s summed; {r['inside_run_s'] * 1e3:.0f} ms inside a run, "
              f"overhead {r['overhead_per_run_s'] * 1e3:.1f} ms/run; {r['errors']} errors")
    for r in rows[1:]:
        print(f"{r['workers']}x{r['threads']} vs {rows[0]['workers']}x{rows[0]['threads']}: "
              f"{r['runs_per_s'] / rows[0]['runs_per_s']:.2f}x")


if __name__ == "__main__":
    main()
