"""The ``backtester`` command line.

Examples
--------
::

    backtester run                               # compare the ready-made strategies, write a report
    backtester run --list                        # strategies and scenarios by name
    backtester run --strategy trend --strategy carry --scenario normal --leverage 5 --out rep/
    backtester data validate --sample            # check the bundled sample
    backtester data validate trades.csv --kind trades
    backtester data synth --out synth/ --days 3 --markets BTC-USD,ETH-USD --seed 7
    backtester data fetch dydx --market BTC-USD --kind trades,funding --start 2024-08-08 --end 2024-08-09 --store data/
    backtester data coverage --store data/
    backtester run --data data/ --market BTC-USD --start 2024-08-08 --end 2024-08-09

Exit codes: 0 success, 1 invalid data (the message names the file, and the column, row and
line where known), 2 anything else that went wrong: a bad option (the message names it and its
value) or an unexpected error. Every error is one line on stderr; ``--debug`` prints the
traceback before it.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
import traceback
import warnings
from pathlib import Path

KIND_CHOICES = ("trades", "funding", "oracle", "latency", "book", "book_levels")
#: exit codes (see the module docstring)
EXIT_INVALID_DATA = 1
EXIT_USAGE = 2
#: Ctrl-C: the shell's convention for a process stopped by SIGINT (128 + 2)
EXIT_INTERRUPTED = 130
#: units of integer epoch times: canonical files and candles (--ts-unit), Binance (--time-unit)
TS_UNITS = ("s", "ms", "us", "ns")
TIME_UNITS = ("ms", "us")
#: formats whose readers take ts_unit / time_unit
_TS_UNIT_FORMATS = ("csv", "parquet", "feather", "dataset", "candles")
_TIME_UNIT_FORMATS = ("binance", "binance-bookticker")
#: reader parameters that data-validate messages name -> the option that sets them
_OPTION_OF = {"ts_unit": "--ts-unit", "time_unit": "--time-unit", "tz": "--tz", "utc_offset": "--tz",
              "market": "--market", "format": "--format", "bar": "--bar", "label": "--label",
              "sort": "--sort", "drop_duplicates": "--drop-duplicates", "ts": "--ts",
              "size_unit": "--size-unit"}
_PARAMETER = re.compile(r"\b(" + "|".join(_OPTION_OF) + r")=(?:'([^']*)'|True\b)?")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the usage is in ``--help``)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Number(float):
    """A float that remembers how it was written, for error messages (``--cash -1000``)."""

    text: str


def number(text: str) -> float:
    """argparse type: a float keeping its command-line spelling (argparse names it 'number')."""
    value = _Number(float(text))
    value.text = text
    return value


def _spelling(value) -> str:
    """How an option's value reads on the command line."""
    if hasattr(value, "text"):
        return value.text
    return f"{value:g}" if isinstance(value, float) else str(value)


def _with_options(message: str) -> str:
    """``message`` followed by the command-line options for the reader parameters it names.

    Readers word their hints for the Python API (``pass ts_unit='ms'``); ``data validate``
    reads the same files through options, so its errors also say which one to use.
    """
    hints = []
    for match in _PARAMETER.finditer(message):
        option = _OPTION_OF[match.group(1)]
        value = match.group(2) if match.group(1) != "utc_offset" else None
        hint = f"{option} {value}" if value else option
        if option not in message and hint not in hints:
            hints.append(hint)
    return f"{message} (on the command line: {', '.join(hints)})" if hints else message


def _guess_kind(path: Path) -> str | None:
    name = path.name.lower()
    for kind, words in (("book_levels", ("book_levels", "incremental_book", "book_snapshot", "orderbook")),
                        ("book", ("book",)), ("trades", ("trade",)), ("funding", ("funding",)),
                        ("oracle", ("oracle",)), ("latency", ("latency", "trace"))):
        if any(w in name for w in words):
            return kind
    return None


def _detect_kind(path: Path) -> str | None:
    """The table kind of a file: the venue layout its content shows (a Tardis or Binance
    header) first, then its name, then the keys of dYdX JSON (canonical files: the name only)."""
    from data_loaders.loaders import FORMAT_KIND, detect_format, detect_kind

    try:
        fmt = detect_format(path)
    except ValueError:  # an extension no reader knows: the name may still tell
        return _guess_kind(path)
    if fmt in FORMAT_KIND:
        return FORMAT_KIND[fmt]
    return _guess_kind(path) or detect_kind(path)


def _print_summary(ds) -> None:
    import pandas as pd

    with pd.option_context("display.width", 140, "display.max_columns", 10):
        print(ds.summary().to_string())


def _is_dataset_dir(path: Path) -> bool:
    """A folder written by ``Dataset.save``: its ``dataset.json`` or any of its table files."""
    from data_loaders import KINDS

    return path.is_dir() and ((path / "dataset.json").exists()
                              or any((path / f"{kind}.parquet").is_file() for kind in KINDS))


def _unit_options(args, fmt: str | None) -> dict:
    """The reader arguments of ``--ts-unit`` / ``--time-unit``, or a usage error naming the
    option when the format does not take it (``fmt`` None: a sample or dataset folder)."""
    out = {}
    for option, value, name, formats in (("--ts-unit", args.ts_unit, "ts_unit", _TS_UNIT_FORMATS),
                                         ("--time-unit", args.time_unit, "time_unit", _TIME_UNIT_FORMATS)):
        if value is None:
            continue
        if fmt not in formats:
            what = "a bundled sample or dataset folder" if fmt is None else f"{fmt} files"
            other = " (--time-unit is for Binance files)" if name == "ts_unit" else (
                " (--ts-unit is for canonical files and candles)")
            raise ValueError(f"{option} {value}: does not apply to {what}; it is for "
                             f"{', '.join(formats)} files{other}")
        out[name] = value
    return out


def _cmd_validate(args) -> int:
    import data_loaders as dl

    if args.sample and args.path is not None:
        print(f"error: pass a path or --sample, not both (got {args.path!r} and --sample {args.sample!r})",
              file=sys.stderr)
        return EXIT_USAGE
    if args.sample or args.path is None:
        _unit_options(args, None)
        name = args.sample or "default"
        try:
            ds = dl.sample(name)
        except ValueError as exc:  # unknown sample name
            print(f"error: --sample {name}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        _print_summary(ds)
        print(f"OK: sample {name!r} is valid ({', '.join(ds.meta.get('real', []))} real; "
              f"{', '.join(ds.meta.get('generated', []))} generated)")
        return 0
    path = Path(args.path)
    if not path.exists():
        print(f"error: {path}: no such file or directory", file=sys.stderr)
        return EXIT_USAGE
    if _is_store(path):
        _unit_options(args, None)
        store = dl.Store(path)
        bad = store.verify()
        if bad:
            raise dl.DataError(bad[0], f"SHA-256 differs from its manifest ({len(bad)} partition(s) changed since "
                               "they were fetched; delete them and fetch again)")
        ds = store.dataset()
        _print_summary(ds)
        print(f"OK: store {path} is valid ({len(store.partitions())} partitions, checksums match)")
        return 0
    if _is_dataset_dir(path):
        _unit_options(args, None)
        # what `backtester run --data` requires, so that OK here means it can run
        ds = dl.Dataset.load(path, require=("trades",))
        _print_summary(ds)
        print(f"OK: dataset {path} is valid")
        return 0
    kind = args.kind or _detect_kind(path)
    if kind is None:
        print(f"error: {path}: cannot tell the table kind from the name or the content; pass --kind "
              f"({'|'.join(KIND_CHOICES)})", file=sys.stderr)
        return EXIT_USAGE
    loader = getattr(dl, f"load_{kind}" if kind != "book" else "load_book")
    bars = {k: v for k, v in (("label", args.label), ("bar", args.bar)) if v is not None}
    if bars and args.format != "candles":
        print("error: --label and --bar are for --format candles", file=sys.stderr)
        return EXIT_USAGE
    if args.market is not None:
        bars["market"] = args.market
    if args.ts is not None:
        from data_loaders.loaders import detect_format

        fmt = (args.format or detect_format(path)).lower()
        if kind != "book_levels" or fmt != "dydx":
            what = f"{fmt} files" if kind == "book_levels" else f"--kind {kind}"
            raise ValueError(f"--ts {args.ts}: does not apply to {what}; it is the fetch time of a dYdX "
                             "order-book response (--kind book_levels, JSON), which carries no time of its own")
        bars["ts"] = args.ts
    if args.size_unit is not None:
        from data_loaders.loaders import detect_format

        fmt = (args.format or detect_format(path)).lower()
        if fmt not in ("tardis-l2", "tardis-snapshot"):
            raise ValueError(f"--size-unit {args.size_unit}: does not apply to {fmt} files; it is for Tardis "
                             "order-book files (tardis-l2, tardis-snapshot)")
        bars["size_unit"] = args.size_unit
    if args.ts_unit is not None or args.time_unit is not None:
        from data_loaders.loaders import detect_format

        fmt = (args.format or detect_format(path)).lower()
        if fmt == "candles" and path.name.lower().endswith((".json", ".json.gz")):
            fmt = "dYdX candles JSON"  # stamped by ISO text: no unit to give
        bars.update(_unit_options(args, fmt))
    table = loader(str(path), format=args.format, tz=args.tz, sort=args.sort,
                   drop_duplicates=args.drop_duplicates, **bars)
    print(f"OK: {path} is a valid {kind} table: {table.num_rows:,} rows")
    return 0


def _cmd_synth(args) -> int:
    import data_loaders as dl

    markets = tuple(m.strip() for m in args.markets.split(",") if m.strip())
    try:
        ds = dl.synthetic(days=float(args.days), markets=markets, start=args.start, seed=args.seed)
    except (ValueError, TypeError) as exc:  # the generator names its parameter ("days: ..."): name the option
        named = re.match(r"(days|markets|start|seed): (.*)", str(exc), re.S)
        if named is None:
            raise
        option = named.group(1)
        raise ValueError(f"--{option} {_spelling(getattr(args, option)) if option != 'markets' else repr(args.markets)}"
                         f": {named.group(2)}") from exc
    out = ds.save(args.out)
    _print_summary(ds)
    print(f"wrote {out}")
    return 0


def _strategies(args, ds):
    from strategies.catalog import CATALOG, build

    names = args.strategy or list(CATALOG)
    if not args.strategy and args.hedge_market is None and "hedged-carry" in names:
        names.remove("hedged-carry")  # asked for all: leave out what this data cannot run, and say so
        print("note: hedged-carry left out: the data has one market (give --hedge-market)", file=sys.stderr)
    if not _has_book(ds, args.market):
        if not args.strategy:
            names.remove("market-maker")
            print(f"note: market-maker left out: the data has no order book of {args.market} "
                  "(try --sample btcusdt-tape)", file=sys.stderr)
        elif "market-maker" in names:
            print(f"note: market-maker will not trade: the data has no order book of {args.market} "
                  "(try --sample btcusdt-tape)", file=sys.stderr)
    # labelled by their command-line names: short, and the same in the table, plots and CSVs
    out = {}
    for n in names:
        try:
            out[n] = build(n, market=args.market, leverage=args.leverage, hedge_market=args.hedge_market)
        except ValueError as exc:
            raise ValueError(f"--strategy {n}: {exc}") from exc
    return out


def _has_book(ds, market: str) -> bool:
    return any(t.num_rows and market in t.column("market").unique().cast("string").to_pylist()
               for t in (ds.book, ds.book_levels))


def _scenarios(args, ds):
    from backtester import scenarios as sc

    try:
        return sc.by_name(args.scenario or ["normal", "stress"], ds)
    except ValueError as exc:
        unknown = re.search(r"unknown scenario '([^']*)'", str(exc))
        raise ValueError(f"--scenario {unknown.group(1)}: {exc}" if unknown else str(exc)) from exc


#: (option, attribute, test, what it must be) of the numbers ``run`` takes
_RUN_NUMBERS = (
    ("--cash", "cash", lambda v: math.isfinite(v) and v > 0, "a finite amount of collateral > 0"),
    ("--leverage", "leverage", lambda v: math.isfinite(v) and v > 0, "a finite leverage > 0"),
    ("--latency-scale", "latency_scale", lambda v: math.isfinite(v) and v >= 0, "a finite multiplier >= 0"),
    ("--slippage", "slippage", lambda v: math.isfinite(v) and v >= 0, "a finite multiplier >= 0"),
    ("--seeds", "seeds", lambda v: v >= 1, "at least 1 seed"),
)


def _check_numbers(args) -> None:
    """Reject numbers a run cannot use before loading anything (NaN leverage would run and
    print a table of zeros)."""
    for option, attr, ok, what in _RUN_NUMBERS:
        value = getattr(args, attr)
        if not ok(value):
            raise ValueError(f"{option} {_spelling(value)}: expected {what}")
        if isinstance(value, float):
            setattr(args, attr, float(value))  # a plain float from here on (pickled to workers)


def _is_store(path: Path) -> bool:
    """A folder written by ``data fetch`` (``data_loaders.Store``): its ``store.json``."""
    return (path / "store.json").is_file()


def _store_dataset(args):
    """The dataset ``run --data STORE`` reads: ``--market`` (and, for the hedge, the other
    markets) over ``--start`` .. ``--end``."""
    import data_loaders as dl

    import difflib

    store = dl.Store(args.data)
    parts = store.partitions()
    stored = sorted(set(parts.loc[parts["kind"].isin(["trades", "agg_trades", "candles"]), "market"]))
    markets = None
    for flag, market in (("--market", args.market), ("--hedge-market", args.hedge_market)):
        if market is not None and market not in stored:
            close = difflib.get_close_matches(market, stored, n=3, cutoff=0.5)
            raise ValueError(f"{flag} {market}: the store {args.data} has no trades or candles of it; it has "
                             f"{', '.join(stored) or 'none (fetch some: backtester data fetch)'}"
                             + (f" (close matches: {', '.join(close)})" if close else ""))
    if args.market is not None:
        markets = [args.market] + ([args.hedge_market] if args.hedge_market else [])
    return store.dataset(markets, args.start, args.end)


def _cmd_fetch(args) -> int:
    import data_loaders as dl

    if args.start is None or args.end is None:
        raise ValueError("--start and --end are required (UTC days; --end is exclusive: one day is "
                         "--start 2024-08-08 --end 2024-08-09)")
    options = {}
    if args.rpc_url is not None:
        if args.venue != "dydx":
            raise ValueError(f"--rpc-url {args.rpc_url}: a CometBFT node is for dydx (--kind latency)")
        options["rpc_url"] = args.rpc_url
    if args.resolution is not None:
        if args.venue == "binance":
            raise ValueError(f"--resolution {args.resolution}: Binance dumps have no candles here")
        options["resolution"] = args.resolution
    policy = None
    if args.rate is not None:
        from data_loaders.fetch import Policy

        if not (math.isfinite(args.rate) and args.rate >= 0):
            raise ValueError(f"--rate {_spelling(args.rate)}: expected requests per second >= 0 (0: no limit)")
        policy = Policy(rate=float(args.rate))
    store = dl.Store(args.store)
    report = store.fetch(args.venue, args.market, args.kind, args.start, args.end, base_url=args.base_url,
                         policy=policy, dry_run=args.dry_run, progress=not args.quiet, **options)
    import pandas as pd

    with pd.option_context("display.width", 140, "display.max_rows", 200):
        if args.dry_run:
            todo = report[report["action"] == "would fetch"]
            print(report.to_string(index=False) if len(report) else "(nothing in the range)")
            print(f"dry run: {len(todo)} of {len(report)} day(s) would be fetched into {store.path}")
            return 0
        fetched = report[report["action"] == "fetched"]
        partial = fetched[~fetched["complete"].astype(bool)]
        missing = report[report["action"] == "not published"]
        print(f"{args.venue}: fetched {len(fetched)} day(s), {int(fetched['rows'].fillna(0).sum()):,} rows; "
              f"{int((report['action'] == 'skipped').sum())} day(s) were complete already"
              + (f"; {len(partial)} partial (day in progress, or the venue serves only part)" if len(partial) else "")
              + (f"; {len(missing)} not published by the venue" if len(missing) else "")
              + f"\nstore: {store.path} (backtester data coverage --store {store.path})")
    return 0


def _cmd_coverage(args) -> int:
    import pandas as pd

    import data_loaders as dl

    path = Path(args.store)
    if not path.is_dir():
        raise ValueError(f"--store {args.store}: no such directory")
    if not _is_store(path):
        raise ValueError(f"--store {args.store}: not a store (no store.json; data fetch writes one)")
    cov = dl.Store(path).coverage()
    if cov.empty:
        print(f"{path}: empty store")
        return 0
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(cov.to_string(index=False))
    gaps = cov[cov["status"] != "complete"]
    print(f"{len(cov)} run(s); {int(gaps['days'].sum())} day(s) partial or missing" if len(gaps)
          else f"{len(cov)} run(s), every day complete")
    return 0


def _slug(text):
    from backtester.report import slug

    return slug(text)


def _cmd_run(args) -> int:
    import time

    import backtester as bt
    import data_loaders as dl
    from backtester import scenarios as sc
    from backtester.kernel import is_cached
    from data_loaders import DataError
    from backtester.report import ReportPlots, expected_plots, write_report
    from backtester.report_folder import check_folder, claim_folder

    t0 = time.perf_counter()
    _check_numbers(args)
    if not args.no_report:
        check_folder(args.out)  # a folder of the user's is refused before anything is loaded or run
    # trades are what a run replays: a dataset without them is invalid data, as data validate says
    if args.data and not Path(args.data).is_dir():
        raise ValueError(f"--data {args.data}: " + ("not a directory (a dataset is the folder Dataset.save or "
                         "data synth writes)" if Path(args.data).exists() else "no such directory"))
    venue_specs = None
    try:
        if args.data and _is_store(Path(args.data)):
            ds = _store_dataset(args)
            venue_specs = ds.markets
        elif args.data and not (Path(args.data) / "trades.parquet").exists() \
                and not (Path(args.data) / "dataset.json").exists():
            found = sorted(p.name for p in Path(args.data).iterdir())[:5]
            raise DataError(str(args.data), "neither a dataset (trades.parquet, written by Dataset.save or data "
                            "synth) nor a store (store.json, written by data fetch); it holds "
                            + (", ".join(found) if found else "nothing")
                            + ("; read a venue's or your own files with data_loaders' readers and save a dataset "
                               "(README, 'Data formats')" if found else ""))
        else:
            ds = dl.Dataset.load(args.data, require=("trades",)) if args.data else dl.sample(args.sample)
            if args.start is not None or args.end is not None:
                ds = ds.slice(args.start, args.end)
                if not ds.trades.num_rows:
                    raise DataError(str(args.data or f"sample {args.sample}"), f"no trades in --start {args.start} "
                                    f"--end {args.end}")
    except DataError:
        raise
    except ValueError as exc:  # an unknown sample name
        if args.data:
            raise
        raise ValueError(f"--sample {args.sample}: {exc}") from exc
    if args.market is None:
        args.market = "BTC-USD" if "BTC-USD" in ds.markets_traded else ds.markets_traded[0]
    for flag, market in (("--market", args.market), ("--hedge-market", args.hedge_market)):
        if market is not None and market not in ds.markets_traded:
            print(f"error: {flag} {market}: the data has no trades of it; markets: "
                  f"{', '.join(ds.markets_traded)}", file=sys.stderr)
            return EXIT_USAGE
    if args.hedge_market is None:
        others = [m for m in ds.markets_traded if m != args.market]
        args.hedge_market = others[0] if others else None
    if args.list:
        from strategies.catalog import CATALOG

        print("strategies:")
        for name, (_, doc) in CATALOG.items():
            print(f"  {name:16s} {doc}")
        print("scenarios:\n  normal           the venue as in the data\n  stress           all of the stress suite")
        for s in sc.stress_suite(ds):
            print(f"  {_slug(s.name):16s} {s.name}")
        return 0
    scenarios = _scenarios(args, ds)  # before the strategies' notes: a bad name is the only line
    strategies = _strategies(args, ds)
    markets = {}
    if venue_specs:  # the venue's own margin fractions, fetched into the store
        from .venue_markets import venue_markets

        markets = venue_markets(venue_specs, ds.markets_traded)
    config = bt.SimConfig(initial_cash=args.cash, margin_mode=args.margin_mode, markets=markets,
                          latency_scale=args.latency_scale, slippage_multiplier=args.slippage)
    print(f"data: {ds!r}")
    print(f"config: {args.margin_mode} margin, cash {args.cash:,.0f}, latency x{args.latency_scale}, "
          f"slippage x{args.slippage}; {len(strategies)} strategies x {len(scenarios)} scenarios")
    if not is_cached():
        print("first run: compiling the numba kernel (about 20 s of CPU, cached afterwards)...",
              file=sys.stderr, flush=True)
    if not args.no_report:
        claim_folder(args.out)  # before the runs: a folder of the user's is refused at once
    # the plots are drawn as each scenario's runs finish and saved by worker processes while
    # the next scenario runs (report.ReportPlots)
    drawing = None if args.no_report or args.no_plots else ReportPlots(
        args.out, progress=not args.quiet, expected=expected_plots(len(scenarios), len(strategies)))
    with drawing or contextlib.nullcontext():
        cmp = bt.compare(strategies, ds, scenarios=scenarios, config=config, seeds=args.seeds,
                         keep_results=not args.no_report, progress=not args.quiet, on_cell=drawing)
        _print_tables(cmp)
        if not args.no_report:
            notes = [f"Data: {ds!r}. " + ("Real: " + ", ".join(ds.meta.get("real", [])) + "; generated: "
                                            + ", ".join(ds.meta.get("generated", [])) + "."
                                            if ds.meta.get("real") is not None else ""),
                     f"Config: {config!r}.",
                     "Every strategy ran on identical inputs per scenario (input hashes in fingerprints.csv)."]
            page = write_report(cmp, args.out, title="Strategies under the normal venue and the stress suite",
                                notes=notes, plots=drawing or False, progress=not args.quiet)
            print(f"\nreport: {page} (plots and CSV tables in {Path(args.out)})")
    print(f"done in {time.perf_counter() - t0:,.1f} s")
    return 0


def _print_tables(cmp) -> None:
    import pandas as pd

    from backtester.report import comparison_text

    print()
    print(comparison_text(cmp, "total_return"))
    print()
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        costs = cmp.metric_table()[["fees", "slippage_cost", "funding", "gas", "liquidation_losses", "insurance_cover",
                                    "n_liquidations", "min_margin_ratio"]]
        print(f"costs and margin under {cmp.scenarios[0]} (quote; funding > 0 = received):")
        print(costs.to_string(float_format=lambda v: f"{v:,.2f}"))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``backtester`` command (for docs and tests)."""
    parser = _Parser(
        prog="backtester",
        description="Backtest leveraged perpetual-futures strategies on Layer-2 venues.",
        epilog="Exit codes: 0 success, 1 invalid data, 2 bad options or another error. Errors are "
               "one line; --debug prints the traceback too.",
    )
    parser.add_argument("--debug", action="store_true", help="on an error, print the traceback too")
    sub = parser.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "run", help="compare the ready-made strategies under the normal venue and the stress suite",
        description="Compare strategies on the bundled sample (default) or a dataset directory under "
                    "the normal venue and the stress suite (outages, latency spikes, slippage, funding "
                    "flip, crash, liquidity drought, oracle delay, reorg, dated incidents), print a "
                    "comparison table and write a report folder (PNG plots, index.html, CSV tables). "
                    "Every strategy gets identical data, latency, costs and seeds.")
    r.add_argument("--strategy", action="append", metavar="NAME",
                   help="ready-made strategy to run (repeatable; default: all; see --list)")
    r.add_argument("--scenario", action="append", metavar="NAME",
                   help="'normal', 'stress' (the whole suite) or one suite scenario by name "
                        "(repeatable; default: normal and stress; see --list)")
    r.add_argument("--list", action="store_true", help="list strategies and scenarios and exit")
    r.add_argument("--sample", default="default", help="bundled sample: default, dydx-2022-11, btcusdt-tape")
    r.add_argument("--data", default=None, help="a dataset directory written by Dataset.save / data synth, or a "
                                                 "store written by data fetch")
    r.add_argument("--start", default=None, help="first time of the run, UTC (default: the data's)")
    r.add_argument("--end", default=None, help="end of the run, UTC, exclusive (default: the data's)")
    r.add_argument("--market", default=None, help="market to trade (default: BTC-USD, else the first)")
    r.add_argument("--hedge-market", default=None,
                   help="hedge leg of the hedged carry (default: the other market of the data)")
    r.add_argument("--leverage", type=number, default=3.0, help="target leverage of directional strategies (default 3)")
    r.add_argument("--cash", type=number, default=10_000.0, help="initial collateral per venue (default 10,000)")
    r.add_argument("--margin-mode", choices=("cross", "isolated"), default="cross",
                   help="cross: one account per venue; isolated: one per market (default cross)")
    r.add_argument("--latency-scale", type=number, default=1.0, help="multiply venue latencies (default 1)")
    r.add_argument("--slippage", type=number, default=1.0, help="slippage multiplier of every run (default 1)")
    r.add_argument("--seeds", type=int, default=3,
                   help="seeds for scenarios that draw at random (default 3; intervals in summary.csv)")
    r.add_argument("--out", default="backtester-report", help="report folder (default ./backtester-report)")
    r.add_argument("--no-report", action="store_true", help="print the tables only; write no files")
    r.add_argument("--no-plots", action="store_true", help="write the tables and page but no PNG plots")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_debug(r)
    r.set_defaults(func=_cmd_run)

    from .sweep.cli import add_sweep_parser

    add_sweep_parser(sub)

    data = sub.add_parser("data", help="validate, inspect, generate and fetch data")
    dsub = data.add_subparsers(dest="data_command", required=True)

    v = dsub.add_parser("validate", help="check a file or dataset directory against the canonical schemas",
                        description="Check a file (CSV, Parquet, Feather, Binance CSV, dYdX JSON, "
                                    "funding CSV) or a dataset directory written by Dataset.save. "
                                    "Errors name the file, row, column and what was expected.")
    v.add_argument("path", nargs="?", help="file or dataset directory (default: the bundled sample)")
    v.add_argument("--kind", choices=KIND_CHOICES, help="table kind (guessed from the file name if omitted)")
    v.add_argument("--format", default=None,
                   help="reader: csv, parquet, feather, dataset, binance, binance-bookticker, dydx, "
                        "funding-csv, candles, tardis-l2, tardis-snapshot (default: from the extension "
                        "and header)")
    v.add_argument("--sample", nargs="?", const="default", default=None, metavar="NAME",
                   help="validate a bundled sample instead (default, dydx-2022-11, btcusdt-tape)")
    v.add_argument("--tz", default=None, metavar="ZONE",
                   help="zone of naive timestamps: required for funding CSVs (Symbol,Date,Funding Rate) "
                        "and canonical files without a zone, e.g. UTC, or +03:00 for Binance/Bybit "
                        "funding exports")
    v.add_argument("--market", default=None,
                   help="market name for files that do not name it (candles, Binance exports)")
    v.add_argument("--label", choices=("left", "right"), default=None,
                   help="candles: ts is the bar start (left, the default) or its end (right)")
    v.add_argument("--bar", default=None, metavar="LENGTH",
                   help="candles: bar length such as 1h, 1D or MS (default: inferred from the times)")
    v.add_argument("--sort", action="store_true", help="sort rows by time first (reports rows moved)")
    v.add_argument("--drop-duplicates", action="store_true", help="drop exact duplicate rows first")
    v.add_argument("--ts", default=None, metavar="TIME",
                   help="dYdX order-book response (--kind book_levels): the time it was fetched, e.g. "
                        "2025-12-08T16:12:00Z (default: the isoTimestamp its wrapper records)")
    v.add_argument("--size-unit", choices=("base", "quote"), default=None,
                   help="Tardis order books: amount in base units, or in quote units such as Deribit's USD "
                        "contracts (converted: amount / price)")
    v.add_argument("--ts-unit", choices=TS_UNITS, default=None,
                   help="unit of integer epoch times in canonical files and candles (ts column)")
    v.add_argument("--time-unit", choices=TIME_UNITS, default=None,
                   help="unit of Binance time columns (default ms; us for files in microseconds)")
    _add_debug(v)
    v.set_defaults(func=_cmd_validate)

    s = dsub.add_parser("synth", help="generate a synthetic dataset directory",
                        description="Generate a deterministic synthetic dataset (trades, funding, "
                                    "oracle, latency trace) and save it as Parquet files.")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--days", type=number, default=3.0, help="number of days (default 3)")
    s.add_argument("--markets", default="BTC-USD,ETH-USD", help="comma-separated markets")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--start", default="2024-01-01", help="first day, UTC (default 2024-01-01)")
    _add_debug(s)
    s.set_defaults(func=_cmd_synth)

    f = dsub.add_parser("fetch", help="fetch real venue data into a local store (resumable)",
                        description="Fetch trades, funding, candles or book tops of a venue into a partitioned "
                                    "Parquet store, day by day; a day already complete there is not fetched "
                                    "again, so an interrupted fetch resumes where it stopped. Days in progress are "
                                    "stored as partial and fetched again next time. Retries with backoff on "
                                    "rate limits, server errors and broken connections.")
    f.add_argument("venue", choices=("dydx", "hyperliquid", "binance"), help="the source")
    f.add_argument("--market", required=True,
                   help="comma-separated markets as the venue names them: dYdX BTC-USD, Hyperliquid BTC, Binance BTCUSDT")
    f.add_argument("--kind", default=None,
                   help="comma-separated: trades, funding, candles (dYdX, Hyperliquid), latency (dYdX, with "
                        "--rpc-url); trades, aggTrades, bookTicker, fundingRate (Binance) (default: trades,funding)")
    f.add_argument("--start", default=None, help="first day, UTC (e.g. 2024-08-08); required")
    f.add_argument("--end", default=None, help="end, UTC, exclusive (e.g. 2024-08-09 for one day); required")
    f.add_argument("--store", required=True, help="the store folder (new, empty, or a store already)")
    f.add_argument("--base-url", default=None, help="the venue's address (default: its public one)")
    f.add_argument("--rpc-url", default=None,
                   help="dydx --kind latency: a CometBFT RPC node of dYdX v4 (an archive node for past days); the "
                        "trace samples block headers: block interval as time to inclusion and finality, halts as "
                        "outages")
    f.add_argument("--resolution", default=None,
                   help="candles: 1MIN (default), 5MINS, 15MINS, 30MINS, 1HOUR, 4HOURS, 1DAY")
    f.add_argument("--rate", type=number, default=None,
                   help="requests per second at most (default: the venue's polite rate: dYdX 5, Hyperliquid 1, "
                        "Binance 5)")
    f.add_argument("--dry-run", action="store_true", help="say what would be fetched; fetch nothing")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_debug(f)
    f.set_defaults(func=_cmd_fetch)

    c = dsub.add_parser("coverage", help="what a store holds, with its gaps",
                        description="Print what a store holds: runs of days per kind, venue and market, "
                                    "complete, partial or missing (gap).")
    c.add_argument("--store", required=True, help="the store folder")
    _add_debug(c)
    c.set_defaults(func=_cmd_coverage)
    return parser


def _add_debug(parser) -> None:
    # SUPPRESS: given only after the command, it does not reset the top-level --debug
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, print the traceback too")


def main(argv=None) -> int:
    """Entry point of the ``backtester`` console script.

    Returns the exit code: 0, 1 for invalid data, 2 for a bad option or an unexpected error,
    130 when interrupted (Ctrl-C); one line on stderr each (with ``--debug`` the traceback first).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from data_loaders import DataError

    validating = getattr(args, "data_command", None) == "validate"
    try:
        with _one_line_warnings(getattr(args, "debug", False)):
            return args.func(args)
    except DataError as exc:
        return _fail(args, f"invalid data: {_with_options(str(exc)) if validating else exc}", EXIT_INVALID_DATA)
    except (ValueError, OSError) as exc:  # bad arguments or unreadable input, not invalid data
        return _fail(args, f"error: {_with_options(str(exc)) if validating else exc}", EXIT_USAGE)
    except KeyboardInterrupt:  # Ctrl-C: what was finished stays (a fetch resumes from it)
        return _fail(args, "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # a case nobody foresaw: still one line, the traceback on request
        return _fail(args, f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the "
                           "traceback)", EXIT_USAGE)


@contextlib.contextmanager
def _one_line_warnings(debug: bool):
    """Warnings as one ``warning: ...`` line each on stderr, each distinct message once (a
    comparison's many runs repeat them); with ``--debug`` Python's own format, file and line."""
    if debug:
        yield
        return
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = f"warning: {category.__name__}: {' '.join(str(message).split())}"
        if text not in seen:
            seen.add(text)
            print(text, file=sys.stderr)

    with warnings.catch_warnings():  # the filters in force decide what shows; this, how
        warnings.showwarning = show
        yield


def _fail(args, message: str, code: int) -> int:
    """Print ``message`` as one line on stderr (after the traceback with --debug); return ``code``."""
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(" ".join(message.split()), file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
