"""The ``backtester`` command line, called in-process through ``main()`` and once as a process.

Exit codes: 0 valid, 1 invalid data (stderr names file, column, row and line), 2 usage errors
(unknown sample, missing file, unguessable kind, bad arguments).
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import data_loaders as dl
from backtester.cli import build_parser, main
from data_loaders import KINDS, SCHEMAS, Dataset, conform
from data_loaders.sample import data_path

TRADES_CSV = "ts,market,price,size,side\n"


def command():
    """The ``backtester`` console script of this interpreter's environment, else ``-m``.

    The script next to ``sys.executable`` is the one ``pip install`` put in the same venv (as in
    ``.ci/run``); ``shutil.which`` finds it when that venv is activated; ``python -m
    backtester.cli`` works even when no script was installed.
    """
    here = Path(sys.executable).parent / ("backtester.exe" if sys.platform == "win32" else "backtester")
    if here.exists():
        return [str(here)]
    found = shutil.which("backtester")
    if found:
        return [found]
    return [sys.executable, "-m", "backtester.cli"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path, text):
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- as a process
def test_console_script_help():
    proc = subprocess.run(command() + ["--help"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: backtester")
    assert "data" in proc.stdout


def test_console_script_exit_code_of_a_usage_error(tmp_path):
    proc = subprocess.run(command() + ["data", "validate", str(tmp_path / "missing.csv")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "no such file or directory" in proc.stderr and "Traceback" not in proc.stderr


def test_help_texts(capsys):
    for argv in (["--help"], ["data", "--help"], ["data", "validate", "--help"], ["data", "synth", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: backtester")
    assert build_parser().prog == "backtester"


def test_argparse_errors_exit_2(capsys):
    for argv in ([], ["data"], ["data", "validate", "x.csv", "--kind", "quotes"], ["data", "synth"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
        capsys.readouterr()


# --------------------------------------------------------------------------- validate: samples
def test_validate_sample(capsys):
    code, out, err = run(capsys, "data", "validate", "--sample")
    assert code == 0 and err == ""
    assert "OK: sample 'default' is valid (funding real; trades, oracle, latency generated)" in out
    for kind in KINDS:
        assert kind in out
    assert run(capsys, "data", "validate")[:2] == (0, out)  # no path: the sample too


def test_validate_sample_by_name(capsys):
    code, out, _ = run(capsys, "data", "validate", "--sample", "btcusdt-tape")
    assert code == 0
    assert "OK: sample 'btcusdt-tape' is valid (trades, book real; latency generated)" in out
    assert "21313" in out and "66089" in out
    code, out, _ = run(capsys, "data", "validate", "--sample", "dydx-2022-11")
    assert code == 0 and "OK: sample 'dydx-2022-11'" in out


def test_validate_unknown_sample_or_sample_plus_path(capsys, tmp_path):
    code, out, err = run(capsys, "data", "validate", "--sample", "nope")
    assert code == 2 and out == ""
    assert "unknown sample 'nope'" in err and "btcusdt-tape" in err
    code, _, err = run(capsys, "data", "validate", str(tmp_path), "--sample")
    assert code == 2 and "not both" in err


# --------------------------------------------------------------------------- validate: files
def test_validate_good_parquet_file(capsys, tmp_path):
    trades = dl.synthetic(days=0.05, markets=("BTC-USD",), seed=1).trades
    f = tmp_path / "good.parquet"  # nothing in the name says 'trades'
    pq.write_table(trades, f)
    code, out, err = run(capsys, "data", "validate", str(f), "--kind", "trades")
    assert (code, err) == (0, "")
    assert out == f"OK: {f} is a valid trades table: {trades.num_rows:,} rows\n"


def test_validate_guesses_the_kind_from_the_name(capsys, tmp_path):
    book = conform(pd.DataFrame({"ts": pd.to_datetime(["2024-01-01 00:00:00", "2024-01-01 00:00:01"], utc=True),
                                 "market": "BTC-USD", "bid": 1.0,
                                 "bid_size": 1.0, "ask": 2.0, "ask_size": 1.0}), "book")
    f = tmp_path / "btc_book.parquet"
    pq.write_table(book, f)
    code, out, _ = run(capsys, "data", "validate", str(f))
    assert code == 0 and "valid book table: 2 rows" in out
    code, out, _ = run(capsys, "data", "validate", str(data_path("BTCUSDT-trades-2024-08-08-2354.csv.gz")))
    assert code == 0 and "valid trades table: 21,313 rows" in out


def test_validate_negative_price_names_file_column_row_and_line(capsys, tmp_path):
    f = write(tmp_path / "bad_trades.csv", TRADES_CSV + "2024-01-01T00:00:00Z,BTC-USD,100.0,1.0,1\n"
                                                        "2024-01-01T00:00:01Z,BTC-USD,-5.0,1.0,-1\n")
    code, out, err = run(capsys, "data", "validate", str(f))
    assert code == 1 and out == ""
    assert err.startswith("invalid data: ")
    assert str(f) in err
    assert "column 'price'" in err
    assert "row 1 (line 3)" in err  # data row 1 is file line 3 (line 1 is the header)
    assert "-5.0" in err and "> 0" in err
    code, _, err2 = run(capsys, "data", "validate", str(f), "--kind", "trades")
    assert code == 1 and err2 == err


def test_validate_unguessable_name_needs_kind(capsys, tmp_path):
    f = write(tmp_path / "data.csv", TRADES_CSV + "2024-01-01T00:00:00Z,BTC-USD,100.0,1.0,1\n")
    code, out, err = run(capsys, "data", "validate", str(f))
    assert code == 2 and out == ""
    assert str(f) in err and "cannot tell the table kind" in err and "--kind" in err
    assert run(capsys, "data", "validate", str(f), "--kind", "trades")[0] == 0


def test_validate_missing_path(capsys, tmp_path):
    code, _, err = run(capsys, "data", "validate", str(tmp_path / "nope_trades.csv"))
    assert code == 2 and "no such file or directory" in err


def test_validate_sort_and_drop_duplicates(capsys, tmp_path):
    f = write(tmp_path / "trades.csv", TRADES_CSV + "2024-01-01T00:00:05Z,BTC-USD,100.0,1.0,1\n"
                                                    "2024-01-01T00:00:01Z,BTC-USD,101.0,1.0,1\n"
                                                    "2024-01-01T00:00:01Z,BTC-USD,101.0,1.0,1\n")
    code, _, err = run(capsys, "data", "validate", str(f))
    assert code == 1 and "column 'ts'" in err and "sort=True" in err
    code, out, _ = run(capsys, "data", "validate", str(f), "--sort", "--drop-duplicates")
    assert code == 0 and "2 rows" in out


def test_validate_funding_csv_needs_tz(capsys):
    f = str(data_path("BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz"))
    code, out, err = run(capsys, "data", "validate", f)
    assert code == 2 and out == "" and "time zone" in err and "Traceback" not in err
    code, out, _ = run(capsys, "data", "validate", f, "--tz", "UTC")
    assert code == 0 and "valid funding table: 17,520 rows" in out


def test_bad_arguments_are_errors_not_tracebacks(capsys, tmp_path):
    f = str(data_path("BTCUSDT-trades-2024-08-08-2354.csv.gz"))
    code, _, err = run(capsys, "data", "validate", f, "--format", "nonsense")
    assert code == 2 and err.startswith("error: unknown format 'nonsense'")
    code, _, err = run(capsys, "data", "validate", f, "--kind", "latency")
    assert code == 2 and "does not hold latency" in err
    code, _, err = run(capsys, "data", "synth", "--out", str(tmp_path / "x"), "--markets", ",")
    assert code == 2 and err.startswith("error: ")


# --------------------------------------------------------------------------- synth
def test_synth_then_validate(capsys, tmp_path):
    out_dir = tmp_path / "synth"
    code, out, err = run(capsys, "data", "synth", "--out", str(out_dir), "--days", "0.2",
                         "--markets", "BTC-USD", "--seed", "3")
    assert (code, err) == (0, "")
    assert out.rstrip().endswith(f"wrote {out_dir}")
    assert (out_dir / "dataset.json").exists()

    code, out, err = run(capsys, "data", "validate", str(out_dir))
    assert (code, err) == (0, "")
    assert f"OK: dataset {out_dir} is valid" in out

    saved = Dataset.load(out_dir)
    expected = dl.synthetic(days=0.2, markets=("BTC-USD",), seed=3)
    for kind in KINDS:
        got, want = saved.table(kind), expected.table(kind)
        assert got.schema.equals(SCHEMAS[kind])
        assert got.unify_dictionaries().combine_chunks().equals(
            want.unify_dictionaries().combine_chunks()), kind
    assert saved.markets_traded == ["BTC-USD"]
    assert saved.markets == expected.markets
    assert saved.meta["seed"] == 3


# --------------------------------------------------------------------------- run (the main job)
def _check_report(folder: Path):
    page = (folder / "index.html").read_text()
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs and all(f"src='{p}'" in page for p in pngs)
    assert "not drawn" not in page
    for name in ("comparison.csv", "summary.csv", "ranking.csv", "fingerprints.csv", "total_return.csv"):
        assert (folder / name).exists(), name
    table = pd.read_csv(folder / "comparison.csv")
    fp = pd.read_csv(folder / "fingerprints.csv")
    assert (fp.groupby(["scenario", "seed"])["fingerprint"].nunique() == 1).all()
    return page, pngs, table


def test_run_compares_every_ready_made_strategy_on_the_tape(capsys, tmp_path):
    from strategies.catalog import CATALOG

    out = tmp_path / "rep"
    code, text, err = run(capsys, "run", "--sample", "btcusdt-tape", "--quiet", "--seeds", "1", "--out", str(out))
    assert code == 0, err
    assert "total_return by scenario" in text and "ranking" in text and f"report: {out}" in text
    _, pngs, table = _check_report(out)
    assert table["strategy"].nunique() == len(CATALOG) - 1   # one market: no hedged carry
    assert "hedged-carry left out" in err
    assert table["scenario"].nunique() >= 8          # normal + the stress suite
    assert any(p.startswith("ladder-") for p in pngs) and any(p.startswith("waterfall-") for p in pngs)
    assert any(p.startswith("equity-") and "halt" in p for p in pngs)   # the dated outage


def test_run_options_and_errors(capsys, tmp_path):
    code, text, _ = run(capsys, "run", "--list", "--sample", "btcusdt-tape")
    assert code == 0 and "trend" in text and "stress" in text and "normal" in text
    code, _, err = run(capsys, "run", "--strategy", "trnd", "--sample", "btcusdt-tape", "--no-report", "--quiet")
    assert code == 2 and "unknown strategy 'trnd'" in err and "did you mean 'trend'" in err
    code, _, err = run(capsys, "run", "--scenario", "volcano", "--sample", "btcusdt-tape", "--no-report", "--quiet")
    assert code == 2 and "unknown scenario 'volcano'" in err
    code, text, _ = run(capsys, "run", "--strategy", "buy-and-hold", "--scenario", "normal", "--scenario", "slippage",
                        "--sample", "btcusdt-tape", "--no-report", "--quiet", "--leverage", "2")
    assert code == 0 and "slippage x3" in text and "buy-and-hold" in text
    assert not (tmp_path / "backtester-report").exists()


def test_readme_first_command_as_a_process(tmp_path):
    """The acceptance run: `backtester run` with no arguments on the bundled sample."""
    proc = subprocess.run(command() + ["run", "--quiet"], capture_output=True, text=True, timeout=1200,
                          check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "total_return by scenario" in proc.stdout and "Traceback" not in proc.stderr
    _, _, table = _check_report(tmp_path / "backtester-report")
    scenarios = set(table["scenario"])
    assert "normal" in scenarios and any("outage" in s or "halt" in s for s in scenarios)


def test_validate_candles_with_label_and_bar(capsys, tmp_path):
    daily = Path(__file__).parent / "data" / "candles" / "BTCUSD-1d-2023-generated.csv"
    code, out, _ = run(capsys, "data", "validate", str(daily), "--kind", "trades", "--format", "candles",
                       "--market", "BTC-USD", "--label", "right", "--bar", "1D")
    assert code == 0 and "valid trades table: 1,460 rows" in out  # four path points a bar
    code, _, err = run(capsys, "data", "validate", str(daily), "--kind", "trades", "--label", "right")
    assert code == 2 and "--format candles" in err


def test_run_with_a_market_the_data_lacks_is_a_usage_error(capsys):
    code, _, err = run(capsys, "run", "--market", "SOL-USD", "--strategy", "trend", "--scenario", "normal",
                       "--no-report", "--quiet")
    assert code == 2 and "--market SOL-USD: the data has no trades of it; markets: BTC-USD, ETH-USD" in err


def test_run_prints_each_warning_once_on_one_line_and_notes_a_market_maker_without_a_book(capsys, tmp_path):
    # carry decides hourly: on the 6-minute tape it never decides, in each of the two scenarios
    code, out, err = run(capsys, "run", "--sample", "btcusdt-tape", "--strategy", "carry", "--scenario", "normal",
                         "--scenario", "slippage x3", "--no-report", "--quiet", "--out", str(tmp_path / "r"))
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    assert lines == [line for line in lines if "NoDecisionsWarning: FundingCarry" in line] and len(lines) == 1
    assert not any(".py:" in line for line in err.splitlines())   # no file:line of Python's format
    code, out, err = run(capsys, "run", "--strategy", "market-maker", "--scenario", "normal", "--no-report",
                         "--quiet", "--out", str(tmp_path / "s"))
    assert code == 0 and "note: market-maker will not trade: the data has no order book of BTC-USD" in err


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    import backtester.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), interrupted))
    assert cli.main(["data", "synth", "--out", "unused"]) == cli.EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "interrupted\n"


def _with_func(parser, func):
    """``parser`` whose subcommands all call ``func`` (their handlers are bound at build time)."""
    original = parser.parse_args

    def parse_args(argv=None):
        args = original(argv)
        args.func = func
        return args

    parser.parse_args = parse_args
    return parser


def test_run_data_that_is_neither_a_dataset_nor_a_store_says_both(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "run", "--data", str(tmp_path), "--no-report", "--quiet")
    assert code == 1 and f"invalid data: {tmp_path}: neither a dataset" in err and "it holds notes.txt" in err
    (tmp_path / "trades.csv").write_text("ts,price\n")   # a CSV is not a dataset either
    code, _, err = run(capsys, "run", "--data", str(tmp_path), "--no-report", "--quiet")
    assert code == 1 and "neither a dataset" in err and "notes.txt, trades.csv" in err
    (tmp_path / "dataset.json").write_text("{}")   # a dataset without trades: the loader's own message
    code, _, err = run(capsys, "run", "--data", str(tmp_path), "--no-report", "--quiet")
    assert code != 0 and "has no trades table" in err
