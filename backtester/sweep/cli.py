"""``backtester sweep CONFIG.toml|.yaml``: a sweep described in a file, from the command line.

The file names the strategy, the grid (or a random space), optional fixed parameters, base
config fields, scenarios and data::

    strategy = "ma-cross"            # catalog name (backtester run --list) or "module:Class"
    metric = "sharpe"                # ranks the printed best-N table
    top = 10
    seeds = 1
    scenarios = ["normal", "slippage"]   # "normal", "stress" (whole suite) or suite names

    [params]                         # fixed strategy parameters
    market = "BTC-USD"

    [grid]                           # full product; names: strategy params or SimConfig fields
    fast = [5, 10, 20]
    slow = [60, 120, 240]
    slippage_multiplier = [1.0, 2.0]

    [config]                         # base SimConfig
    initial_cash = 10000

    [data]                           # or --sample NAME / --data DIR on the command line
    sample = "default"

Instead of ``[grid]``, ``[random]`` with ``n``, ``seed`` and a ``[random.space]`` table
draws ``n`` points: a list is a set of choices, ``{low = 5, high = 50}`` a range.

A sweep file is trusted input, like a Python script: ``"module:Class"`` imports ``module``
(which runs its code). Only a ``bt.Strategy`` subclass is accepted as the strategy, checked
before anything is called, and ``out`` must be a new or empty folder or an earlier sweep's.

Examples
--------
::

    backtester sweep examples/sweep_ma_cross.toml --n-jobs 2
    backtester sweep examples/sweep_ma_cross.yaml --sample btcusdt-tape --out /tmp/ma --no-resume
    backtester sweep examples/sweep_ma_cross.toml --pbo 16 --walk-forward train=2D,test=1D
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import re
import time
import tomllib
from pathlib import Path

_KEYS = {"strategy", "metric", "top", "seeds", "scenarios", "params", "grid", "random", "config", "data", "out"}
_SHOWN = ["total_return", "sharpe", "max_drawdown", "n_fills", "n_liquidations"]


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``sweep`` command to ``backtester``'s subparsers.

    Examples
    --------
    >>> import argparse
    >>> sub = argparse.ArgumentParser(prog="backtester").add_subparsers(dest="command")
    >>> add_sweep_parser(sub).prog
    'backtester sweep'
    """
    p = subparsers.add_parser(
        "sweep", help="run a parameter sweep described in a TOML or YAML file",
        description="Run one strategy over a grid (or random space) of strategy parameters, config "
                    "fields and scenarios given in a TOML or YAML file; results are appended to a "
                    "Parquet folder as runs finish, so an interrupted sweep resumes where it stopped. "
                    "Prints the best runs.")
    p.add_argument("config", metavar="CONFIG", help="sweep file (.toml, .yaml or .yml)")
    p.add_argument("--out", default=None,
                   help="results folder (default: the file's 'out', else ./<file name>-sweep)")
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes (default 1; -1: every core)")
    p.add_argument("--n-threads", type=int, default=None,
                   help="threads per process for batched plan-only runs (default: every core in "
                        "this process, 1 per worker process)")
    p.add_argument("--no-resume", action="store_true", help="start over, deleting the folder's previous runs")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--sample", default=None, help="bundled sample: default, dydx-2022-11, btcusdt-tape")
    src.add_argument("--data", default=None, help="a dataset directory written by Dataset.save / data synth")
    p.add_argument("--metric", default=None, help="metric of the best-N table (default: the file's, else sharpe)")
    p.add_argument("--top", type=int, default=None, help="rows of the best-N table (default 10)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--pbo", metavar="S", default=None,
                   help="after the sweep, the probability of backtest overfitting over S time blocks (even, "
                        "e.g. 16), the probability of an out-of-sample loss and the best run's deflated Sharpe ratio "
                        "(also written, with what each number means and plots, to OUT/overfitting.md)")
    p.add_argument("--walk-forward", metavar="SPEC", default=None,
                   help="after the sweep, a walk-forward of the grid: train=14D,test=3D[,step=3D,anchored=true,"
                        "carry=true] (carry: one account across folds; default: each test window starts flat); "
                        "prints the folds, the winners' rank under each of the file's scenarios (chosen on the "
                        "first) and the total out-of-sample return (also in OUT/overfitting.md)")
    p.set_defaults(func=cmd_sweep)
    return p


def read_spec(path) -> dict:
    """The sweep file as a dict (TOML or YAML by extension), with its keys checked.

    Examples
    --------
    >>> read_spec("examples/sweep_ma_cross.toml")["strategy"]     # doctest: +SKIP
    'ma-cross'
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such sweep file")
    text = path.read_text()
    if path.suffix.lower() == ".toml":
        try:
            spec = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: invalid TOML: {exc}") from None
    elif path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: invalid YAML: {exc}") from None
    else:
        raise ValueError(f"{path}: expected a .toml, .yaml or .yml sweep file")
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: expected a table of settings at the top level")  # noqa: TRY004 - bad file
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(_KEYS), n=1)
        raise ValueError(f"{path}: unknown setting {unknown[0]!r}" + (f"; did you mean {close[0]!r}?" if close
                                                                      else f"; known: {', '.join(sorted(_KEYS))}"))
    if "strategy" not in spec:
        raise ValueError(f"{path}: missing 'strategy' (a catalog name such as 'ma-cross', or 'module:Class')")
    if ("grid" in spec) == ("random" in spec):
        raise ValueError(f"{path}: give exactly one of [grid] and [random]")
    return spec


def build_strategy(name: str, params: dict, data):
    """A strategy instance from a catalog name or ``module:Class``, with fixed ``params``."""
    if ":" in name:
        mod_name, _, cls_name = name.partition(":")
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"strategy {name!r}: cannot import {cls_name} from {mod_name} ({exc})") from None
        from ..strategy import Strategy

        # checked before anything is called: "os:system" with [params] would run a command
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise ValueError(f"strategy {name!r}: {cls_name} is not a bt.Strategy subclass (a sweep file names "
                             "a strategy class as module:Class)")
        return cls(**params)
    from strategies.catalog import build

    traded = data.markets_traded
    market = params.get("market", "BTC-USD" if "BTC-USD" in traded else traded[0])
    others = [m for m in traded if m != market]
    inst = build(name, market=market, leverage=float(params.get("leverage", 3.0)),
                 hedge_market=params.get("hedge_market", others[0] if others else None))
    return type(inst)(**{**inst.params, **params})


def _check_metric(metric: str) -> None:
    from ..stats import METRICS

    known = (*METRICS, "elapsed_s")
    if metric not in known:
        close = difflib.get_close_matches(metric, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"metric {metric!r} is not a statistic of a run; {hint}known: {', '.join(known)}")


def grid_of(spec: dict):
    """The ``[grid]`` dict, or a :class:`RandomSpace` from ``[random]``."""
    from .space import RandomSpace

    if "grid" in spec:
        if not isinstance(spec["grid"], dict):
            raise ValueError("[grid] must be a table {name: [values]}")
        return spec["grid"]
    r = dict(spec["random"])
    space = r.pop("space", None)
    if not isinstance(space, dict) or not space:
        raise ValueError("[random] needs a [random.space] table {name: [choices] or {low, high}}")
    n, seed = r.pop("n", 100), r.pop("seed", 0)
    if r:
        raise ValueError(f"[random]: unknown setting {min(r)!r} (expected n, seed, space)")
    conv = {}
    for k, v in space.items():
        if isinstance(v, dict):
            if set(v) != {"low", "high"}:
                raise ValueError(f"[random.space] {k}: a range is {{low = ..., high = ...}}, got {v!r}")
            conv[k] = (v["low"], v["high"])
        else:
            conv[k] = v
    return RandomSpace(conv, n=n, seed=seed)


def _data(args, spec):
    import data_loaders as dl

    if args.data:
        return dl.Dataset.load(args.data)
    if args.sample:
        return dl.sample(args.sample)
    d = spec.get("data", {}) or {}
    unknown = set(d) - {"sample", "path", "slice"}
    if unknown:
        raise ValueError(f"[data]: unknown setting {min(unknown)!r} (expected sample, path or slice)")
    ds = dl.Dataset.load(d["path"]) if "path" in d else dl.sample(d.get("sample", "default"))
    if "slice" in d:
        ds = ds.slice(*d["slice"])
    return ds


def _scenarios(names, data):
    if not names:
        return None
    from ..scenarios import by_name

    return by_name(names, data)


def _span(ds) -> str:
    """``2022-11-08 00:00 .. 2022-11-08 11:59 UTC, BTC-USD, ETH-USD``."""
    when = f"{ds.start:%Y-%m-%d %H:%M} .. {ds.end:%Y-%m-%d %H:%M} UTC" if ds.start is not None else "no trades"
    return ", ".join([when, *ds.markets_traded])


def walk_forward_folder(spec: str) -> str:
    """The sub-folder of a sweep's ``out`` where ``--walk-forward SPEC`` keeps its resumable
    training sweeps: one per spec, so other windows start their own.

    Examples
    --------
    >>> walk_forward_folder("train=14D, test=3D,carry=true")
    'walk-forward_train=14D,test=3D,carry=true'
    """
    return "walk-forward_" + re.sub(r"[^A-Za-z0-9=.,_-]", "_", spec.replace(" ", ""))


def cmd_sweep(args) -> int:
    """Run the sweep of ``args.config`` and print the best-N table."""
    import pandas as pd

    import backtester as bt

    from .analysis import best
    from .core import sweep
    from .overfit_cli import (
        parse_pbo,
        parse_walk_forward,
        report_pbo,
        report_walk_forward,
    )

    t0 = time.perf_counter()
    # before the file and any run: a malformed option must not cost a sweep
    n_blocks = parse_pbo(args.pbo) if args.pbo is not None else None
    wf_spec = parse_walk_forward(args.walk_forward) if args.walk_forward is not None else None
    spec = read_spec(args.config)
    ds = _data(args, spec)
    try:
        strategy = build_strategy(spec["strategy"], dict(spec.get("params", {}) or {}), ds)
        config = bt.SimConfig(**(spec.get("config", {}) or {}))
        grid = grid_of(spec)
        scenarios = _scenarios(spec.get("scenarios"), ds)
    except TypeError as exc:  # a misspelt parameter or field: a bad file, said plainly
        raise ValueError(str(exc)) from None
    out = args.out or spec.get("out") or f"{Path(args.config).stem}-sweep"
    metric = args.metric or spec.get("metric", "sharpe")
    _check_metric(metric)  # before any run: a typo must not cost the whole sweep
    top = args.top or int(spec.get("top", 10))
    if wf_spec is not None:  # windows the data cannot hold fail here, not after the sweep
        from .walkforward import fold_windows

        try:
            fold_windows(ds, wf_spec["train"], wf_spec["test"], wf_spec.get("step", wf_spec["test"]),
                         anchored=wf_spec.get("anchored", False))
        except ValueError as exc:
            raise ValueError(f"--walk-forward {args.walk_forward}: {exc}") from None
    print(f"data: {ds!r}")
    print(f"strategy: {strategy.name}; results in {out}")
    try:
        df = sweep(strategy, grid, ds, scenarios=scenarios, config=config, n_jobs=args.n_jobs,
                   n_threads=args.n_threads, out=out, resume=not args.no_resume, seeds=spec.get("seeds", 1),
                   progress=not args.quiet)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    df.to_csv(Path(out) / "sweep.csv", index=False)
    n_err = int((df["status"] == "error").sum())
    print(f"\n{len(df)} runs, {n_err} raised" + (f" (first: {df.loc[df['status'] == 'error', 'error'].iloc[0]})"
                                                if n_err else ""))
    if (df["status"] == "ok").any():
        params = df.attrs.get("params", [])
        shown = [c for c in [*params, "scenario", "seed", metric, *_SHOWN] if c in df.columns]
        shown = list(dict.fromkeys(shown))
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(f"best {top} by {metric}:")
            print(best(df, metric, n=top)[shown].to_string(float_format=lambda v: f"{v:,.4g}"))
    print(f"\ntable: {Path(out) / 'sweep.csv'} (all runs: from backtester.sweep import load; load({str(out)!r}))")
    pbo_summary = wf = None
    if n_blocks is not None:
        pbo_summary = report_pbo(n_blocks, "--pbo", strategy, grid, ds, table=df, scenarios=scenarios,
                                 config=config, seeds=spec.get("seeds", 1), n_threads=args.n_threads)
    if wf_spec is not None:
        wf = report_walk_forward(wf_spec, f"--walk-forward {args.walk_forward}", strategy, grid, ds,
                                 metric=metric, config=config, scenarios=scenarios, n_jobs=args.n_jobs,
                                 out=Path(out) / walk_forward_folder(args.walk_forward), resume=not args.no_resume)
    if pbo_summary is not None or wf is not None:
        from .overfit_report import write_overfit_report

        path = write_overfit_report(out, pbo=pbo_summary, walk_forward=wf, walk_forward_spec=wf_spec,
                                    title=f"{strategy.name}, {len(df)} runs, on {_span(ds)}.")
        print(f"\noverfitting report: {path}")
    print(f"done in {time.perf_counter() - t0:,.1f} s")
    return 0
