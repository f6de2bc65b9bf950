"""Peak memory of loading, preparing and running a big tape: 10M trades by default.

Two fresh child processes (so each peak is that work's alone):

1. ``generate``: a one-market synthetic tape of ``--million`` million trades (20 a second, an
   oracle row a second, real-looking funding; ``_common.tape``), saved with
   ``Dataset.save`` into a temporary folder. Its peak is the generator's, printed for scale:
   it is not what a user loading their own data pays.
2. ``run`` (the user's path): ``Dataset.load`` of that folder (Parquet, validated), the
   kernel's arrays laid out (``Prepared.build``), then ``MaCross(fast=20, slow=100)`` deciding
   every minute on the fast path, with its ``stats()``.

Printed: the resident set after each step and the peak so far (``ru_maxrss``), with the kernel
inputs' own size for scale. A child's peak includes the interpreter, numpy, pandas, pyarrow
and numba (about 240 MB before any data).

Usage::

    python benchmarks/bench_memory.py               # 10M trades
    python benchmarks/bench_memory.py --million 1   # a quicker check
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def _rss_mb() -> float:
    """Current resident set of this process, MB (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _peak_mb()


def _peak_mb() -> float:
    """Peak resident set of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(million: float, folder: str) -> dict:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import tape

    t0 = time.perf_counter()
    tape(million).save(folder)
    return {"generate_s": time.perf_counter() - t0, "generate_peak_mb": _peak_mb()}


def run(folder: str) -> dict:
    import backtester as bt
    import data_loaders as dl
    from backtester.driver import Prepared, run_prepared
    from strategies import MaCross

    out = {"start_mb": _rss_mb()}
    t0 = time.perf_counter()
    ds = dl.Dataset.load(folder)
    out["loaded_mb"], out["load_s"], out["loaded_peak_mb"] = _rss_mb(), time.perf_counter() - t0, _peak_mb()
    t0 = time.perf_counter()
    prepared = Prepared.build(ds, bt.SimConfig(initial_cash=100_000.0))
    out["prepared_mb"], out["prepare_s"], out["prepared_peak_mb"] = _rss_mb(), time.perf_counter() - t0, _peak_mb()
    out["inputs_mb"] = sum(a.nbytes for a in prepared.inputs) / 2**20
    out["trades"], out["events"] = len(prepared.inputs.tr_ts), len(prepared.inputs.ev_ts)
    t0 = time.perf_counter()
    res = run_prepared(MaCross(fast=20, slow=100, every="1min"), prepared)
    res.stats()
    out["ran_mb"], out["run_s"], out["peak_mb"] = _rss_mb(), time.perf_counter() - t0, _peak_mb()
    return out


def _child(*args) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"the child {args[0]} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--million", type=float, default=10.0, help="trades, millions (default 10)")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        step, folder = args.child
        print(json.dumps(generate(args.million, folder) if step == "generate" else run(folder)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        g = _child("--child", "generate", folder, "--million", str(args.million))
        r = _child("--child", "run", folder)
    print(f"== bench_memory: {r['trades']:,} trades, {r['events']:,} events; kernel inputs "
          f"{r['inputs_mb']:,.0f} MB ==")
    print(f"generating and saving the tape (its own process): {g['generate_s']:.1f} s, "
          f"peak {g['generate_peak_mb']:,.0f} MB")
    print("the user's path, in a fresh process:")
    print(f"  after start-up (imports)         {r['start_mb']:8,.0f} MB")
    print(f"  after Dataset.load               {r['loaded_mb']:8,.0f} MB   ({r['load_s']:.1f} s; "
          f"peak so far {r['loaded_peak_mb']:,.0f} MB)")
    print(f"  after Prepared.build             {r['prepared_mb']:8,.0f} MB   ({r['prepare_s']:.1f} s; "
          f"peak so far {r['prepared_peak_mb']:,.0f} MB)")
    print(f"  after MaCross 1 min + stats()    {r['ran_mb']:8,.0f} MB   ({r['run_s']:.1f} s)")
    print(f"  peak (ru_maxrss)                 {r['peak_mb']:8,.0f} MB")


if __name__ == "__main__":
    main()
