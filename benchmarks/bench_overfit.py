"""The cost of the overfitting checks of issue 15: walk-forward and PBO.

Prints:

* walk-forward: 100 ``MaCross`` combos (``fast`` x ``slow`` as ``bench_sweep.py --dense``,
  leverage 3, 1-min decisions) x 10 folds on the dense 1M-trade tape of ``bench_dense.py``
  (train 12 h, test 5 h: the 10 folds fit in the tape's ~2.9 days), one
  :func:`~backtester.sweep.walk_forward` in this process; its wall and CPU time split into the
  training sweeps, the test runs of the winners, and the rest (slicing the data, choosing,
  stitching: the statistics). The two phases are timed by wrapping the functions ``walk_forward`` calls;
* PBO with S=16 (12,870 combinations) on a synthetic returns matrix of 1,000 runs, CPU time
  min / median / max over repetitions, and the deflated Sharpe ratio of the best run;
* :func:`~backtester.sweep.returns_matrix` on a smaller real grid (the same 100 combos on a
  quarter of the tape) followed by PBO S=16 and the deflated Sharpe ratio on it: the split
  between sweeping (``returns_matrix``) and the statistics.

Usage::

    python benchmarks/bench_overfit.py            # as above
    python benchmarks/bench_overfit.py --quick    # 0.1M trades, 20 combos, 200 runs for PBO, 1 repetition
"""
from __future__ import annotations

import argparse
import time

import numpy as np

try:
    from _common import Machine, spread, tape
except ImportError:  # run as a module from the repository root
    from benchmarks._common import Machine, spread, tape

import backtester as bt
from backtester.sweep import (
    deflated_sharpe,
    pbo,
    returns_matrix,
    sharpe_moments,
    walkforward,
)
from strategies import MaCross


def dense_grid(quick: bool = False) -> dict:
    """``bench_sweep.py``'s 100 combos (20 with ``quick``)."""
    fast = list(range(5, 55, 5))
    slow = list(range(60, 260, 20))
    return {"fast": fast[::5] if quick else fast, "slow": slow}


class Timed:
    """Wraps a function, adding its wall and CPU seconds to running totals."""

    def __init__(self, fn):
        self.fn, self.wall, self.cpu, self.calls = fn, 0.0, 0.0, 0

    def __call__(self, *args, **kwargs):
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.wall += time.perf_counter() - w0
            self.cpu += time.process_time() - c0
            self.calls += 1


def bench_walk_forward(ds, grid, cfg, train, test) -> dict:
    """One walk-forward with its training sweeps and test runs timed apart."""
    saved = walkforward.sweep, walkforward.run
    sweeps, runs = Timed(saved[0]), Timed(saved[1])
    walkforward.sweep, walkforward.run = sweeps, runs
    try:
        w0, c0 = time.perf_counter(), time.process_time()
        wf = walkforward.walk_forward(MaCross(leverage=3.0, every="1min"), grid, ds, train=train, test=test,
                                      config=cfg, n_jobs=1)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    finally:
        walkforward.sweep, walkforward.run = saved
    return {"wf": wf, "wall": wall, "cpu": cpu, "sweep_wall": sweeps.wall, "sweep_cpu": sweeps.cpu,
            "test_wall": runs.wall, "test_cpu": runs.cpu, "n_sweeps": sweeps.calls}


def dsr_of_best(rets) -> float:
    """Deflated Sharpe ratio of the column with the best per-period Sharpe ratio."""
    x = np.asarray(rets, dtype=float)
    x = x[:, x.std(axis=0) > 0]  # runs that never traded have no Sharpe ratio: not trials
    srs = x.mean(axis=0) / x.std(axis=0, ddof=1)
    sr, n, skew, kurt = sharpe_moments(x[:, int(np.argmax(srs))])
    return deflated_sharpe(sr, n, x.shape[1], float(np.var(srs, ddof=1)), skew, kurt)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--million", type=float, default=1.0, help="trades in the tape, millions (default 1)")
    parser.add_argument("--runs", type=int, default=1000, help="runs of the synthetic PBO matrix (default 1000)")
    parser.add_argument("--rows", type=int, default=4000, help="rows (periods) of the synthetic matrix (default 4000)")
    parser.add_argument("--blocks", type=int, default=16, help="PBO blocks S (default 16)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the PBO timings (default 3)")
    parser.add_argument("--wf-reps", type=int, default=3, help="repetitions of the walk-forward (default 3)")
    parser.add_argument("--quick", action="store_true", help="0.1M trades, 20 combos, 200 PBO runs, 1 repetition")
    args = parser.parse_args(argv)
    if args.quick:
        args.million, args.runs, args.reps, args.wf_reps = min(args.million, 0.1), min(args.runs, 200), 1, 1
    machine = Machine()
    ds = tape(args.million, dense=True)
    cfg = bt.SimConfig(initial_cash=100_000.0, sample_every="1min")
    grid = dense_grid(args.quick)
    n_combos = len(grid["fast"]) * len(grid["slow"])
    hours = (ds.end - ds.start).total_seconds() / 3600
    # 10 folds: train a sixth of the tape, then 10 tests in what is left (a little to spare)
    train = f"{int(hours * 60 / 6)}min"
    test = f"{int(hours * 60 * 5 / 6 / 10.2)}min"
    print(f"== bench_overfit: {ds.trades.num_rows:,} trades over {hours:.1f} h (dense tape, no oracle table), "
          f"one process, {n_combos} MaCross combos at 1-min decisions ==")
    # untimed: numba's cache load (or compile) is not a walk-forward's cost
    bt.sweep(MaCross(every="1min"), {"fast": [5], "slow": [60]}, ds.slice(ds.start, ds.start + np.timedelta64(1, "h")),
             config=cfg, n_jobs=1, progress=False)

    reps = [bench_walk_forward(ds, grid, cfg, train, test) for _ in range(args.wf_reps)]
    r = reps[0]
    folds, runs = len(r["wf"].folds), n_combos * len(r["wf"].folds)

    def mmm(key, fmt=".1f"):
        vals = [x[key] for x in reps]
        return "/".join(f"{v:{fmt}}" for v in spread(vals)) if len(vals) > 1 else f"{vals[0]:{fmt}}"

    for x in reps:
        x["rest_cpu"] = x["cpu"] - x["sweep_cpu"] - x["test_cpu"]
        x["sweep_share"] = 100 * x["sweep_cpu"] / x["cpu"]
        x["rest_share"] = 100 * x["rest_cpu"] / x["cpu"]
        x["ms_per_run"] = x["sweep_cpu"] / runs * 1e3
    what = f"min/median/max over {len(reps)} repetitions" if len(reps) > 1 else "one repetition"
    print(f"walk-forward, {n_combos} combos x {folds} folds (train {train}, test {test}), {what}:")
    print(f"  total {mmm('wall')} s wall, {mmm('cpu')} s CPU")
    print(f"  sweeping: training sweeps {mmm('sweep_cpu')} s CPU ({mmm('sweep_share', '.0f')} %; "
          f"{mmm('ms_per_run')} ms per run), the winners' test runs {mmm('test_cpu', '.2f')} s CPU")
    print(f"  the rest (slicing the data, choosing, stitching): {mmm('rest_cpu', '.2f')} s CPU "
          f"({mmm('rest_share', '.0f')} %)")
    print(f"  out-of-sample return {r['wf'].total_return:+.2%}")

    rng = np.random.default_rng(0)
    synth = rng.normal(0.0, 0.01, size=(args.rows, args.runs))
    pbo(synth[:, :4], n_blocks=args.blocks)  # untimed: first-call imports and allocations
    times, res = [], None
    for _ in range(args.reps):
        c0 = time.process_time()
        res = pbo(synth, n_blocks=args.blocks)
        times.append(time.process_time() - c0)
    c0 = time.process_time()
    dsr = dsr_of_best(synth)
    dsr_s = time.process_time() - c0
    print(f"PBO S={args.blocks} ({res.n_combinations:,} combinations) on a synthetic {args.rows:,} x {args.runs:,} "
          "matrix of noise: CPU s min/median/max over {} repetitions {:.2f}/{:.2f}/{:.2f}; PBO {:.3f}; "
          "deflated Sharpe of the best run {:.3f} in {:.1f} ms".format(args.reps, *spread(times), res.pbo, dsr,
                                                                      dsr_s * 1e3))

    quarter = ds.slice(ds.start, ds.start + (ds.end - ds.start) / 4)
    w0, c0 = time.perf_counter(), time.process_time()
    rets = returns_matrix(MaCross(leverage=3.0, every="1min"), grid, quarter, config=cfg, n_threads=1)
    sweep_wall, sweep_cpu = time.perf_counter() - w0, time.process_time() - c0
    rets = rets.dropna(axis=1)
    c0 = time.process_time()
    real = pbo(rets, n_blocks=args.blocks)
    dsr = dsr_of_best(rets)
    stat_cpu = time.process_time() - c0
    print(f"real grid, {rets.shape[1]} runs on {quarter.trades.num_rows:,} trades ({rets.shape[0]:,} 1-min "
          f"returns each): returns_matrix {sweep_wall:.2f} s wall, {sweep_cpu:.2f} s CPU; PBO S={args.blocks} "
          f"+ deflated Sharpe {stat_cpu:.2f} s CPU ({100 * stat_cpu / (sweep_cpu + stat_cpu):.1f} % of the total); "
          f"PBO {real.pbo:.3f}, P(out-of-sample loss) {real.prob_oos_loss:.3f}, deflated Sharpe of the best {dsr:.3f}")
    print(machine.note())


if __name__ == "__main__":
    main()
