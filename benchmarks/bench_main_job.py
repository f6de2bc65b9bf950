"""The main job (``backtester run`` on the bundled sample, the README's first command) by phase.

Runs what :func:`backtester.cli.main` runs for ``backtester run`` (the same public calls:
``dl.sample``, ``strategies.catalog.build``, ``scenarios.by_name``, ``bt.compare``,
``comparison_text``, ``write_report``) with timers wrapped around the functions they call,
and prints wall and CPU seconds of:

* data: ``dl.sample()``; each scenario applied to the data (``scenarios.apply``); the kernel's
  arrays laid out (``Prepared.build``);
* runs: the numba kernel (``run_nb`` of the hook-mode runs and the batched fast-path
  ``run_engines``, less the Python called back from the hook), the strategies' Python (``init``
  and ``on_decision``, including the :class:`Context` calls they make) and the driver's Python
  (the rest of the runs: decision times, ``Context`` objects, ``Result`` objects);
* stats: ``Result.stats()`` of every run; the rest of ``compare`` (input fingerprints, the table);
  the printed tables;
* report: CSV tables, plots (drawing by plot kind, and ``savefig``), the HTML page.

The kernel cache should be warm (run the job once first, or see ``bench_compile.py`` for the
cold start): a cold cache puts the compile into the kernel line. ``runs`` use 2 threads for
batched fast-path runs (``compare``'s default), so CPU may exceed wall there.

Usage::

    python benchmarks/bench_main_job.py            # the whole job: 7 strategies x 12 scenarios, plots
    python benchmarks/bench_main_job.py --quick    # 2 strategies x (normal, crash), 1 seed: a smoke run
    python benchmarks/bench_main_job.py --no-plots --strategy trend --scenario normal
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import backtester as bt
import data_loaders as dl
from backtester import comparison, report
from backtester import plots as plot_module
from backtester import scenarios as sc
from backtester.driver import Prepared
from backtester.kernel import hooks
from backtester.result import Result
from backtester.strategy import Strategy
from backtester.cli import _strategies as cli_strategies
from strategies.catalog import CATALOG, build


class Timers:
    """Named buckets of wall and CPU seconds; a bucket counts only its outermost call."""

    def __init__(self):
        self.wall = defaultdict(float)
        self.cpu = defaultdict(float)
        self.calls = defaultdict(int)
        self._depth = threading.local()
        self._undo = []

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            depth = getattr(self._depth, name, 0)
            if depth:
                return fn(*args, **kwargs)
            setattr(self._depth, name, 1)
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wall[name] += time.perf_counter() - w0
                self.cpu[name] += time.process_time() - c0
                self.calls[name] += 1
                setattr(self._depth, name, 0)

        timed.__wrapped__ = fn
        return timed

    def patch(self, owner, attr, name, kind=None):
        """Replace ``owner.attr`` by a timed version (undone by :meth:`restore`)."""
        fn = getattr(owner, attr)
        new = self.wrap(name, fn.__func__ if kind is classmethod else fn)
        self.replace(owner, attr, classmethod(new) if kind is classmethod else new)

    def replace(self, owner, attr, new):
        """Set ``owner.attr = new`` (undone by :meth:`restore`)."""
        had = attr in vars(owner)
        self._undo.append((owner, attr, had, vars(owner)[attr] if had else None))
        setattr(owner, attr, new)

    def restore(self):
        for owner, attr, had, old in reversed(self._undo):
            if had:
                setattr(owner, attr, old)
            else:
                delattr(owner, attr)
        self._undo.clear()

    def block(self, name):
        timers = self

        class _Block:
            def __enter__(self):
                self.w0, self.c0 = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                timers.wall[name] += time.perf_counter() - self.w0
                timers.cpu[name] += time.process_time() - self.c0
                timers.calls[name] += 1

        return _Block()


def instrument(t: Timers, strategy_classes) -> None:
    t.patch(sc, "apply", "scenario apply")  # compare calls scenarios.apply
    t.patch(Prepared, "build", "Prepared.build", kind=classmethod)
    t.patch(comparison, "run_many", "runs")
    t.patch(Result, "stats", "stats()")
    t.patch(Result, "stats_values", "stats()")  # what compare reads (stats() wraps it)
    # the kernel: hook-mode runs re-enter run_nb from Engine.step; fast-path runs call it on
    # the kernel threads of backtester.batch (their time can overlap this thread's Python)
    import backtester.batch as batch
    import backtester.engine as engine

    t.patch(engine, "run_nb", "kernel")
    t.patch(batch, "run_nb", "kernel")

    class TimedHook(hooks.installed):
        def __init__(self, callback):
            super().__init__(t.wrap("hook callbacks", callback))

    t.replace(hooks, "installed", TimedHook)  # the driver looks it up on the module
    # the strategies' own Python: init, and on_decision where a class has one
    for cls in strategy_classes:
        t.patch(cls, "init", "strategy Python")
        if cls.on_decision is not Strategy.on_decision:
            t.patch(cls, "on_decision", "strategy Python")
    # report: CSVs, plots (drawing per kind, savefig), HTML
    t.patch(report, "write_tables", "report: CSV tables")
    t.patch(report.ReportPlots, "__call__", "plots during compare")
    t.patch(report.ReportPlots, "finish", "report: plots")
    t.patch(report, "write_html", "report: HTML page")
    t.patch(report, "_save", "  savefig (PNG)")
    t.patch(report, "equity_overlay", "  draw equity overlays")
    for name in ("heatmap", "plot_waterfall", "plot_ladder", "plot_margin", "plot_equity", "plot_finality",
                 "plot_funding"):
        t.patch(plot_module, name, f"  draw {name}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", default="default", help="bundled sample (default: default)")
    parser.add_argument("--strategy", action="append", help="as backtester run (default: all)")
    parser.add_argument("--scenario", action="append", help="as backtester run (default: normal, stress)")
    parser.add_argument("--seeds", type=int, default=3, help="as backtester run (default 3)")
    parser.add_argument("--no-plots", action="store_true", help="write the tables and page, no PNG")
    parser.add_argument("--quick", action="store_true",
                        help="2 strategies x (normal, crash), 1 seed: a smoke run")
    parser.add_argument("--plot-jobs", type=int, default=None,
                        help="worker processes saving plots (default: one per CPU; 0: in this process)")
    parser.add_argument("--out", default=None, help="report folder (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.quick:
        args.strategy = args.strategy or list(CATALOG)[:2]
        args.scenario = args.scenario or ["normal", "crash"]
        args.seeds = 1
    load0 = os.getloadavg()
    t = Timers()
    strategy_classes = {type(build(n, market="BTC-USD", leverage=3.0, hedge_market="ETH-USD")) for n in CATALOG}
    instrument(t, strategy_classes)
    try:
        w0, c0 = time.perf_counter(), time.process_time()
        with t.block("dl.sample()"):
            ds = dl.sample(args.sample)
        market = "BTC-USD" if "BTC-USD" in ds.markets_traded else ds.markets_traded[0]
        others = [m for m in ds.markets_traded if m != market]
        hedge = others[0] if others else None
        # the command's own choice of strategies (it leaves out what the data cannot run: the
        # market maker without a book, the hedged carry without a second market)
        strategies = cli_strategies(argparse.Namespace(strategy=args.strategy, market=market, leverage=3.0,
                                                       hedge_market=hedge), ds)
        scenarios = sc.by_name(args.scenario or ["normal", "stress"], ds)
        config = bt.SimConfig(initial_cash=10_000.0, margin_mode="cross", latency_scale=1.0,
                              slippage_multiplier=1.0)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.out or tmp)
            # as backtester run: plots drawn as each scenario finishes, saved by worker processes
            drawing = None if args.no_plots else report.ReportPlots(
                out, jobs=args.plot_jobs, expected=report.expected_plots(len(scenarios), len(strategies)))
            with drawing or contextlib.nullcontext():
                with t.block("compare"):
                    cmp = bt.compare(strategies, ds, scenarios=scenarios, config=config, seeds=args.seeds,
                                     keep_results=True, progress=False, on_cell=drawing)
                with t.block("printed tables"):
                    report.comparison_text(cmp, "total_return")
                    cmp.metric_table()
                with t.block("report"):
                    report.write_report(cmp, out, title="Strategies under the normal venue and the stress suite",
                                        notes=["benchmark"], plots=drawing or False, progress=False)
            n_png = len(list(out.glob("*.png")))
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    finally:
        t.restore()

    W, C = t.wall, t.cpu
    kernel_w = W["kernel"] - W["hook callbacks"]
    kernel_c = C["kernel"] - C["hook callbacks"]
    driver_w = W["runs"] - kernel_w - W["strategy Python"]
    driver_c = C["runs"] - kernel_c - C["strategy Python"]
    during = ("plots during compare", "scenario apply", "Prepared.build", "runs", "stats()")
    compare_rest_w = W["compare"] - sum(W[k] for k in during)
    compare_rest_c = C["compare"] - sum(C[k] for k in during)
    runs = len(cmp.results)
    rows = [
        ("data: dl.sample()", W["dl.sample()"], C["dl.sample()"]),
        ("data: scenarios.apply", W["scenario apply"], C["scenario apply"]),
        ("data: Prepared.build", W["Prepared.build"], C["Prepared.build"]),
        ("runs: kernel (numba)", kernel_w, kernel_c),
        ("runs: strategy Python", W["strategy Python"], C["strategy Python"]),
        ("runs: driver Python", driver_w, driver_c),
        ("stats: Result.stats()", W["stats()"], C["stats()"]),
        ("stats: rest of compare", compare_rest_w, compare_rest_c),
        ("stats: printed tables", W["printed tables"], C["printed tables"]),
        ("report: CSV tables", W["report: CSV tables"], C["report: CSV tables"]),
        ("report: plots drawn during compare", W["plots during compare"], C["plots during compare"]),
        ("report: plots drawn after, and waiting for files", W["report: plots"], C["report: plots"]),
    ]
    rows += [(f"  of which {k.strip()}", W[k], C[k]) for k in sorted(W, key=lambda k: -W[k]) if k.startswith("  ")]
    rows += [("report: HTML page", W["report: HTML page"], C["report: HTML page"])]
    print(f"== bench_main_job: {len(strategies)} strategies x {len(cmp.scenarios)} scenarios, {runs} runs, "
          f"{n_png} plots on sample {args.sample!r} ==")
    print(f"{'phase':44s} {'wall s':>8s} {'CPU s':>8s} {'share':>6s}")
    for name, w, c in rows:
        print(f"{name:44s} {w:8.2f} {c:8.2f} {100 * w / wall:5.1f}%")
    print(f"{'total':44s} {wall:8.2f} {cpu:8.2f}")
    print(f"hook decisions: {t.calls['hook callbacks']:,}; kernel calls: {t.calls['kernel']:,}; "
          f"stats() calls: {t.calls['stats()']:,}")
    print("savefig runs in worker processes (report.ReportPlots, --plot-jobs): its CPU is not in the CPU column; "
          "wall is what a user waits")
    print(f"machine: {os.cpu_count()} cores; load average (1/5/15 min) {'/'.join(f'{x:.2f}' for x in load0)} at start, "
          f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())} at end")


if __name__ == "__main__":
    sys.exit(main())
