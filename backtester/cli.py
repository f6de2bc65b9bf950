"""The ``backtester`` command line.

Examples
--------
::

    backtester data validate --sample            # check the bundled sample
    backtester data validate trades.csv --kind trades
    backtester data synth --out synth/ --days 3 --markets BTC-USD,ETH-USD --seed 7
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

KIND_CHOICES = ("trades", "funding", "oracle", "latency", "book")


def _guess_kind(path: Path) -> str | None:
    name = path.name.lower()
    for kind, words in (("book", ("book",)), ("trades", ("trade",)), ("funding", ("funding",)),
                        ("oracle", ("oracle",)), ("latency", ("latency", "trace"))):
        if any(w in name for w in words):
            return kind
    return None


def _print_summary(ds) -> None:
    import pandas as pd

    with pd.option_context("display.width", 140, "display.max_columns", 10):
        print(ds.summary().to_string())


def _cmd_validate(args) -> int:
    import data_loaders as dl

    if args.sample and args.path is not None:
        print(f"error: pass a path or --sample, not both (got {args.path!r} and --sample {args.sample!r})",
              file=sys.stderr)
        return 2
    if args.sample or args.path is None:
        name = args.sample or "default"
        try:
            ds = dl.sample(name)
        except ValueError as exc:  # unknown sample name
            print(f"error: {exc}", file=sys.stderr)
            return 2
        _print_summary(ds)
        print(f"OK: sample {name!r} is valid ({', '.join(ds.meta.get('real', []))} real; "
              f"{', '.join(ds.meta.get('generated', []))} generated)")
        return 0
    path = Path(args.path)
    if not path.exists():
        print(f"error: {path}: no such file or directory", file=sys.stderr)
        return 2
    if path.is_dir() and (path / "dataset.json").exists():
        ds = dl.Dataset.load(path)
        _print_summary(ds)
        print(f"OK: dataset {path} is valid")
        return 0
    kind = args.kind or _guess_kind(path)
    if kind is None:
        print(f"error: {path}: cannot tell the table kind from the name; pass --kind "
              f"({'|'.join(KIND_CHOICES)})", file=sys.stderr)
        return 2
    loader = getattr(dl, f"load_{kind}" if kind != "book" else "load_book")
    table = loader(str(path), format=args.format, tz=args.tz, sort=args.sort,
                   drop_duplicates=args.drop_duplicates)
    print(f"OK: {path} is a valid {kind} table: {table.num_rows:,} rows")
    return 0


def _cmd_synth(args) -> int:
    import data_loaders as dl

    markets = tuple(m.strip() for m in args.markets.split(",") if m.strip())
    ds = dl.synthetic(days=args.days, markets=markets, start=args.start, seed=args.seed)
    out = ds.save(args.out)
    _print_summary(ds)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``backtester`` command (for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="backtester",
        description="Backtest leveraged perpetual-futures strategies on Layer-2 venues.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="validate, inspect and generate data")
    dsub = data.add_subparsers(dest="data_command", required=True)

    v = dsub.add_parser("validate", help="check a file or dataset directory against the canonical schemas",
                        description="Check a file (CSV, Parquet, Feather, Binance CSV, dYdX JSON, "
                                    "funding CSV) or a dataset directory written by Dataset.save. "
                                    "Errors name the file, row, column and what was expected.")
    v.add_argument("path", nargs="?", help="file or dataset directory (default: the bundled sample)")
    v.add_argument("--kind", choices=KIND_CHOICES, help="table kind (guessed from the file name if omitted)")
    v.add_argument("--format", default=None,
                   help="reader: csv, parquet, feather, dataset, binance, binance-bookticker, dydx, "
                        "funding-csv, candles (default: from the extension and header)")
    v.add_argument("--sample", nargs="?", const="default", default=None, metavar="NAME",
                   help="validate a bundled sample instead (default, dydx-2022-11, btcusdt-tape)")
    v.add_argument("--tz", default=None, metavar="ZONE",
                   help="zone of naive timestamps: required for funding CSVs (Symbol,Date,Funding Rate) "
                        "and canonical files without a zone, e.g. UTC, or +03:00 for Binance/Bybit "
                        "funding exports")
    v.add_argument("--sort", action="store_true", help="sort rows by time first (reports rows moved)")
    v.add_argument("--drop-duplicates", action="store_true", help="drop exact duplicate rows first")
    v.set_defaults(func=_cmd_validate)

    s = dsub.add_parser("synth", help="generate a synthetic dataset directory",
                        description="Generate a deterministic synthetic dataset (trades, funding, "
                                    "oracle, latency trace) and save it as Parquet files.")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--days", type=float, default=3.0, help="number of days (default 3)")
    s.add_argument("--markets", default="BTC-USD,ETH-USD", help="comma-separated markets")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--start", default="2024-01-01", help="first day, UTC (default 2024-01-01)")
    s.set_defaults(func=_cmd_synth)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``backtester`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from data_loaders import DataError

    try:
        return args.func(args)
    except DataError as exc:
        print(f"invalid data: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:  # bad arguments or unreadable input, not invalid data
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
