"""Sweep throughput: many ``MaCross`` runs over a synthetic tape of about a million trades.

Prints:

* the kernel alone: 32 ``MaCross`` runs one kernel call each (``Engine.run``) against the same
  32 runs batched (:func:`backtester.batch.run_engines`): one kernel call on 1 thread, one call
  per thread on 2, as events/s summed over runs and as a ratio to a bare numba crossover loop
  over the same trades (``bench_engine.bare_ma_cross_nb``) run 32 times;

then, for each sweep mode (this process on 1 and 2 threads; 2 worker processes with one
thread each):

* runs/s and wall time of the whole sweep (worker start-up and data sharing included);
* events/s summed over runs (each run replays every event of the prepared dataset: trades,
  oracle and funding rows, trace rows) and trades/s summed;
* the mean time inside a run (strategy ``init``, kernel, ``stats()``) and the sweep's own
  overhead per run (wall time x workers / runs - time inside runs);
* the scaling from 1 to 2 workers.

Usage::

    python benchmarks/bench_sweep.py                  # 1,000 runs, 1 M trades, 1 and 2 workers
    python benchmarks/bench_sweep.py --runs 50        # a quick check
    python benchmarks/bench_sweep.py --modes 1x1,1x2 --million 0.5   # processes x threads

The grid is a :class:`~backtester.sweep.RandomSpace` over ``fast``, ``slow`` and ``leverage``
(every point distinct), on the normal venue; the dataset is prepared once per worker.
"""
from __future__ import annotations

import argparse
import time

from bench_engine import bare_ma_cross_nb, tape

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs per sweep (default 1000)")
    parser.add_argument("--million", type=float, default=1.0, help="trades in the tape, millions (default 1)")
    parser.add_argument("--modes", default="1x1,1x2,2x1",
                        help="comma-separated PROCESSESxTHREADS sweep modes (default 1x1,1x2,2x1)")
    args = parser.parse_args(argv)

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
