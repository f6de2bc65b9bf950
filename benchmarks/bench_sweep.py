"""Sweep throughput: many ``MaCross`` runs over a synthetic tape of about a million trades.

Prints, for 1 worker (this process) and 2 worker processes:

* runs/s and wall time of the whole sweep (worker start-up and data sharing included);
* events/s summed over runs (each run replays every event of the prepared dataset: trades,
  oracle and funding rows, trace rows) and trades/s summed;
* the mean time inside a run (strategy ``init``, kernel, ``stats()``) and the sweep's own
  overhead per run (wall time x workers / runs - time inside runs);
* the scaling from 1 to 2 workers.

Usage::

    python benchmarks/bench_sweep.py                  # 1,000 runs, 1 M trades, 1 and 2 workers
    python benchmarks/bench_sweep.py --runs 50        # a quick check
    python benchmarks/bench_sweep.py --workers 2 --million 0.5

The grid is a :class:`~backtester.sweep.RandomSpace` over ``fast``, ``slow`` and ``leverage``
(every point distinct), on the normal venue; the dataset is prepared once per worker.
"""
from __future__ import annotations

import argparse
import time

from bench_engine import tape

import backtester as bt
from backtester.driver import Prepared, run_prepared
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


def bench(ds, cfg, runs: int, workers: int, events: int) -> dict:
    t0 = time.perf_counter()
    df = sweep(MaCross, space(runs), ds, config=cfg, n_jobs=workers, progress=False)
    wall = time.perf_counter() - t0
    n = len(df)
    inside = float(df["elapsed_s"].mean())
    return {"workers": workers, "runs": n, "errors": int((df["status"] == "error").sum()), "wall_s": wall,
            "runs_per_s": n / wall, "events_per_s": n * events / wall,
            "trades_per_s": n * ds.trades.num_rows / wall, "inside_run_s": inside,
            "overhead_per_run_s": wall * workers / n - inside}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs per sweep (default 1000)")
    parser.add_argument("--million", type=float, default=1.0, help="trades in the tape, millions (default 1)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    args = parser.parse_args(argv)

    ds = tape(args.million)
    cfg = bt.SimConfig(initial_cash=100_000.0, sample_every="1min")
    b = breakdown(ds, cfg)
    print(f"data: {ds.trades.num_rows:,} trades, {b['events']:,} events per run; prepare once "
          f"{b['prepare_s']:.2f} s")
    print(f"one run on a shared Prepared: init + kernel {b['init_and_kernel_s'] * 1e3:.0f} ms, "
          f"stats() {b['stats_s'] * 1e3:.0f} ms")
    rows = []
    for w in (int(x) for x in args.workers.split(",")):
        r = bench(ds, cfg, args.runs, w, b["events"])
        rows.append(r)
        print(f"{w} worker(s){' (this process)' if w == 1 else ' (processes)'}: {r['runs']:,} runs in "
              f"{r['wall_s']:.1f} s = {r['runs_per_s']:.1f} runs/s, {r['events_per_s'] / 1e6:.1f} M events/s, "
              f"{r['trades_per_s'] / 1e6:.1f} M trades/s summed; {r['inside_run_s'] * 1e3:.0f} ms inside a run, "
              f"overhead {r['overhead_per_run_s'] * 1e3:.1f} ms/run; {r['errors']} errors")
    if len(rows) >= 2:
        print(f"scaling {rows[0]['workers']} -> {rows[-1]['workers']} workers: "
              f"{rows[-1]['runs_per_s'] / rows[0]['runs_per_s']:.2f}x")


if __name__ == "__main__":
    main()
