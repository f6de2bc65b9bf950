"""Cold compile and warm start of what ``backtester run`` needs, each in a fresh subprocess.

Two child processes share one new, empty ``NUMBA_CACHE_DIR`` (a temporary folder):

1. cold: nothing cached, so every kernel function the work needs is compiled (and written to
   the cache);
2. warm: the same work again, loading the machine code the first child wrote.

Each child does, in order:

* the first result: ``import backtester``, ``dl.sample()`` (the bundled sample the README's
  first command uses) and ``bt.run(MaCross(), ...)`` with its ``stats()``;
* then (unless ``--first-only``) the main job without files: ``backtester run --no-report
  --quiet`` through :func:`backtester.cli.main`, so everything the command compiles is compiled.

Printed per child: CPU seconds (``resource.getrusage(RUSAGE_CHILDREN)`` in this process, so the
child's interpreter start-up and imports are in), wall seconds, the wall and CPU time from
spawning the child to its first result, and the number of compiled specializations (the sum of
``len(dispatcher.signatures)`` over every numba dispatcher defined in ``backtester.kernel``'s
modules, counted by the child after each step; a function loaded whole from the cache does not
load its callees, so the warm child counts fewer). ``cold CPU - warm CPU`` is what compiling
cost; the warm child's time to its first result is what a user with a warm cache waits.

Usage::

    python benchmarks/bench_compile.py               # first result + backtester run, cold then warm
    python benchmarks/bench_compile.py --first-only  # the first result only (a quicker check)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

SPAWN_ENV = "BENCH_COMPILE_SPAWNED_AT"


def specializations() -> dict:
    """``{module: (functions compiled, specializations)}`` over ``backtester.kernel``'s modules."""
    import importlib
    import pkgutil

    from numba.core.dispatcher import Dispatcher

    import backtester.kernel as kernel

    out = {}
    for info in pkgutil.iter_modules(kernel.__path__):
        module = importlib.import_module(f"{kernel.__name__}.{info.name}")
        funcs = [f for f in vars(module).values()
                 if isinstance(f, Dispatcher) and getattr(f, "__module__", None) == module.__name__]
        if funcs:
            n = [len(f.signatures) for f in funcs]
            out[info.name] = (sum(1 for k in n if k), sum(n))
    return out


def child(first_only: bool) -> None:
    """The work of one child; prints one JSON line (``RESULT {...}``) on stdout at the end."""
    spawned = float(os.environ[SPAWN_ENV])
    marks = {}

    def mark(name):
        marks[name] = {"wall_since_spawn": time.time() - spawned, "cpu": time.process_time()}

    import backtester as bt
    import data_loaders as dl
    from strategies import MaCross

    mark("imported")
    ds = dl.sample()
    mark("data")
    res = bt.run(MaCross(), ds)
    res.stats()
    mark("first_result")
    counts = {"first_result": specializations()}
    if not first_only:
        from backtester.cli import main

        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = main(["run", "--no-report", "--quiet"])
        if code != 0:
            raise SystemExit(f"backtester run exited {code}:\n{sink.getvalue()[-2000:]}")
        mark("backtester_run")
        counts["backtester_run"] = specializations()
    print("RESULT " + json.dumps({"marks": marks, "counts": counts}), flush=True)


def spawn(cache_dir: str, first_only: bool) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    env[SPAWN_ENV] = repr(time.time())
    cmd = [sys.executable, os.path.abspath(__file__), "--child"] + (["--first-only"] if first_only else [])
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    out = json.loads(line[len("RESULT "):])
    out["cpu"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    out["wall"] = wall
    out["maxrss_mb"] = r1.ru_maxrss / 1024
    return out


def describe(label: str, r: dict) -> None:
    m = r["marks"]
    print(f"{label}: {r['cpu']:.1f} s CPU, {r['wall']:.1f} s wall (whole child)")
    prev = 0.0
    for name, what in (("imported", "import backtester, strategies"), ("data", "dl.sample()"),
                       ("first_result", "bt.run(MaCross()) + stats()"),
                       ("backtester_run", "backtester run --no-report --quiet")):
        if name in m:
            print(f"  {what:38s} CPU {m[name]['cpu'] - prev:7.1f} s   (spawn to here: "
                  f"{m[name]['wall_since_spawn']:6.1f} s wall, {m[name]['cpu']:6.1f} s CPU)")
            prev = m[name]["cpu"]
    for step, counts in r["counts"].items():
        funcs = sum(f for f, _ in counts.values())
        specs = sum(s for _, s in counts.values())
        top = sorted(counts.items(), key=lambda kv: -kv[1][1])[:4]
        print(f"  after {step}: {specs} specializations of {funcs} kernel functions "
              f"(most: {', '.join(f'{k} {s}' for k, (_, s) in top)})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first-only", action="store_true", help="only the first result, not backtester run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.first_only)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
        cold = spawn(cache, args.first_only)
        warm = spawn(cache, args.first_only)
    load1 = os.getloadavg()
    work = "first result" + ("" if args.first_only else " + backtester run --no-report")
    print(f"== bench_compile: {work}, in subprocesses sharing a new empty NUMBA_CACHE_DIR ==")
    describe("cold (empty cache)", cold)
    describe("warm (same cache)", warm)
    print(f"compile cost (cold CPU - warm CPU): {cold['cpu'] - warm['cpu']:.1f} s CPU")
    print(f"warm start to the first result: {warm['marks']['first_result']['wall_since_spawn']:.2f} s wall, "
          f"{warm['marks']['first_result']['cpu']:.2f} s CPU (from spawning the process)")
    print(f"machine: {os.cpu_count()} cores; load average (1/5/15 min) "
          f"{'/'.join(f'{x:.2f}' for x in load0)} at start, {'/'.join(f'{x:.2f}' for x in load1)} at end")


if __name__ == "__main__":
    main()
