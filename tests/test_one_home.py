"""One definition per rule, and clean layering (issue 10).

Each rule has one home that the kernel and the Python side both call; these tests pin the
homes, check that the copies that remain as *views* of one rule agree (``Context`` against the
kernel's own account figures, the hybrid path against the fast path), and check the import
arrows between the kernel, the library and the example strategies.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from backtester import analysis as an
from backtester import scenarios as sc
from backtester.kernel import enums as E
from backtester.kernel.accounts_nb import mark_price_nb, requirement_nb
from backtester.kernel.decisions_nb import to_position_nb, would_trade_nb
from backtester.kernel.orders_nb import is_live_nb
from backtester.records import decode, decode_codes
from strategies import BuyAndHold

ROOT = Path(__file__).resolve().parents[1]
BTC, ETH = "BTC-USD", "ETH-USD"
#: no latency at all: the positions a decision expects are the venue's, its observed marks the
#: venue's marks, so the Context's figures must equal the kernel's own
INSTANT = dict(latency_scale=0.0, feed_latency=0, sample_every="1h")


@pytest.fixture(scope="module")
def day():
    return dl.sample().slice("2022-11-08", "2022-11-09")


# ============================================================================ the kernel helpers
def test_mark_price_rule():
    nan = float("nan")
    assert mark_price_nb(101.0, 100.0) == 101.0
    assert mark_price_nb(nan, 100.0) == 100.0
    assert np.isnan(mark_price_nb(nan, nan))


def test_requirement_rule_scalar_and_array():
    assert requirement_nb(2.0, 100.0, 0.05) == 2.0 * 100.0 * 0.05
    gross, px, f = np.array([1.0, 0.5]), np.array([100.0, 20.0]), np.array([0.05, 0.1])
    np.testing.assert_array_equal(requirement_nb(gross, px, f), gross * px * f)


def test_target_conversion_and_band():
    assert to_position_nb(E.TG_POSITION, 1.5, 100.0, 0.0) == 1.5
    assert to_position_nb(E.TG_LEVERAGE, 2.0, 100.0, 1_000.0) == 20.0
    assert to_position_nb(E.TG_LEVERAGE, 2.0, 100.0, -50.0) == 0.0  # negative equity counts as 0
    assert to_position_nb(E.TG_NOTIONAL, -500.0, 100.0, 0.0) == -5.0
    # band: max(min_trade_notional, rebalance_band * |target| * price)
    assert not would_trade_nb(3.0, 2.9, 100.0, 1.0, 0.05)   # 10 <= 15
    assert would_trade_nb(3.0, 2.8, 100.0, 1.0, 0.05)       # 20 > 15
    assert not would_trade_nb(0.0, 0.005, 100.0, 1.0, 0.05)  # 0.5 quote: under the minimum
    assert not would_trade_nb(1.0, 0.0, float("nan"), 1.0, 0.05)  # no price: no order


def test_live_statuses_for_a_code_and_an_array():
    codes = np.arange(len(E.STATUS_NAMES), dtype=np.int8)
    live = [E.STATUS_NAMES[c] for c in codes[is_live_nb(codes)]]
    assert live == ["inflight", "open", "partially_filled", "armed"]
    assert is_live_nb(E.ST_ARMED) and not is_live_nb(E.ST_FILLED)


def test_target_kind_codes_have_one_home():
    from backtester.strategy import TARGET_KINDS

    assert [TARGET_KINDS[k] for k in E.TARGET_KIND_NAMES] == [E.TG_POSITION, E.TG_LEVERAGE, E.TG_NOTIONAL]


# ============================================================================ Context against the kernel
class Probe(bt.Strategy):
    """Holds both markets and records, at each decision, the Context's figures and the
    kernel's own (the decision's snapshot of NC, IMR, MMR)."""

    every = "2h"

    def init(self, data):
        self.rows = []

    def on_decision(self, ctx):
        if ctx.decision > 0 and abs(ctx.position(BTC)) > 0:
            nc, imr = ctx.equity(), ctx.equity() - ctx.free_collateral()
            self.rows.append(dict(imr=imr, mmr=nc / ctx.margin_ratio(), req_i=ctx.requirement(kind="initial"),
                                  req_m=ctx.requirement(), req_btc=ctx.requirement(BTC)))
        ctx.target_leverage(BTC, 2.0 if ctx.decision % 2 == 0 else -1.5)
        ctx.target_notional(ETH, -3_000.0)


def test_context_requirement_equals_the_kernels_imr_and_mmr(day):
    s = Probe()
    bt.run(s, day, bt.SimConfig(**INSTANT))
    rows = pd.DataFrame(s.rows)
    assert len(rows) >= 5
    np.testing.assert_allclose(rows["req_i"], rows["imr"], rtol=1e-12)
    np.testing.assert_allclose(rows["req_m"], rows["mmr"], rtol=1e-12)
    assert (rows["req_btc"] < rows["req_m"]).all()  # ETH is held too


def test_requirement_rejects_an_unknown_kind(day):
    seen = []

    class Ask(bt.Strategy):
        every = "12h"

        def on_decision(self, ctx):
            with pytest.raises(ValueError, match="maintenance"):
                ctx.requirement(kind="imr")
            seen.append(ctx.requirement([BTC, ETH], "initial"))

    bt.run(Ask(), day)
    assert seen and all(v == 0.0 for v in seen)  # never traded: nothing required


class ByHand(bt.Strategy):
    """target_leverage spelt out with the public pieces: to_position, would_trade, submit."""

    every = "1h"

    def on_decision(self, ctx):
        lev = 3.0 if ctx.decision % 3 else -2.0
        size = ctx.to_position(BTC, lev, "leverage")
        if np.isfinite(size) and ctx.would_trade(BTC, size):
            ctx.submit(BTC, size - ctx.expected_position(BTC))


class Planned(bt.Strategy):
    every = "1h"

    def init(self, data):
        n = len(self.decision_times)
        self.set_targets(BTC, np.where(np.arange(n) % 3 != 0, 3.0, -2.0), kind="leverage")


@pytest.mark.parametrize("cfg", [dict(), dict(feed_latency="2s", latency_scale=2.0, margin_mode="isolated")])
def test_context_pieces_trade_as_the_fast_path(day, cfg):
    config = bt.SimConfig(**cfg)
    fast = bt.run(Planned(), day, config)
    hand = bt.run(ByHand(), day, config)
    assert len(fast.fills) > 10
    cols = ["ts", "market", "side", "size", "price", "fee"]
    pd.testing.assert_frame_equal(fast.fills[cols], hand.fills[cols])


def test_to_position_kinds_and_errors(day):
    got = {}

    class Convert(bt.Strategy):
        every = "12h"

        def on_decision(self, ctx):
            px = ctx.mark(BTC)
            got["px"] = px
            got["oracle"] = ctx.oracle(BTC)
            got["position"] = ctx.to_position(BTC, 1.25)
            got["notional"] = ctx.to_position(BTC, 1_000.0, "notional")
            got["leverage"] = ctx.to_position(BTC, 2.0, "leverage")
            got["equity"] = ctx.equity(BTC)
            with pytest.raises(ValueError, match="target kind"):
                ctx.to_position(BTC, 1.0, "lev")

    bt.run(Convert(), day)
    assert got["px"] == got["oracle"]  # an oracle was observed: it is the mark
    assert got["position"] == 1.25
    assert got["notional"] == 1_000.0 / got["px"]
    assert got["leverage"] == 2.0 * got["equity"] / got["px"]


def test_open_orders_are_decoded_filtered_and_sized(day):
    seen = {}

    class Rest(bt.Strategy):
        every = "6h"

        def on_decision(self, ctx):
            if ctx.decision == 0:
                px = ctx.price(BTC)
                ctx.submit(BTC, 0.1, limit=0.5 * px)        # far below: rests
                ctx.submit(ETH, -1.0, limit=2.0 * ctx.price(ETH))
                ctx.submit(BTC, -0.2, stop=0.4 * px)        # armed stop
            elif ctx.decision == 1:
                seen["all"] = ctx.open_orders()
                seen["btc"] = ctx.open_orders(BTC)

    bt.run(Rest(), day)
    every, btc = seen["all"], seen["btc"]
    assert len(every) == 3 and set(btc["market"]) == {BTC} and len(btc) == 2
    assert set(btc["type"]) == {"limit", "stop_market"}
    assert set(every["status"]) == {"open", "armed"}
    assert (every["remaining"] == every["size"] - every["filled"]).all()
    assert "acked" not in every and "queue_traded" not in every and isinstance(every["sent_ts"].iloc[0], pd.Timestamp)


# ============================================================================ Result and analysis
def test_result_marks_are_the_kernels_and_analysis_reads_them(day):
    res = bt.run(BuyAndHold(leverage=2.0), day)
    st = res.engine.state
    final = res.marks()
    np.testing.assert_array_equal(final.to_numpy(), np.where(np.isnan(st.oracle), st.last, st.oracle))
    pd.testing.assert_series_equal(an.marks_at(res), final)
    # after the last event, the table lookup gives the engine's own marks
    pd.testing.assert_series_equal(res.marks(np.iinfo(np.int64).max - 1), final)
    at = "2022-11-08 12:00"
    pd.testing.assert_series_equal(an.marks_at(res, at), res.marks(at))
    assert res.initial_cash.sum() == res.stats()["initial_equity"]


def test_decode_table_covers_every_coded_column(day):
    res = bt.run(BuyAndHold(leverage=2.0), day)
    for kind, columns in E.RECORD_CODES.items():
        frame = getattr(res, kind)
        for col, names in columns.items():
            assert set(frame[col].dropna()) <= set(names), (kind, col)
    assert list(decode_codes("ledger", "kind", [0, 2])) == ["fee", "funding"]
    raw = res.engine.records("orders")
    pd.testing.assert_frame_equal(decode("orders", raw, res.layout).drop(columns=["acked", "queue_traded"]), res.orders)


# ============================================================================ public accessors
def test_strategy_plan_accessor():
    s = BuyAndHold(leverage=2.0)
    assert s.planned_targets == ({}, None)
    s.decision_times = pd.date_range("2022-11-08", periods=3, freq="1h", tz="UTC")
    s.set_targets(BTC, [1.0, np.nan, 2.0], kind="position")
    targets, kind = s.planned_targets
    assert kind == "position" and list(targets) == [BTC]
    targets.clear()  # a copy: the strategy's own plan is untouched
    assert s.planned_targets[0]
    s.clear_targets()
    assert s.planned_targets == ({}, None)


def test_scenarios_by_name():
    tape = dl.sample("btcusdt-tape")
    suite = sc.stress_suite(tape)
    assert sc.by_name("normal", tape) == [sc.NORMAL]
    assert [s.name for s in sc.by_name(["stress", "normal", "stress"], tape)] == \
        [s.name for s in suite] + ["normal"]
    with pytest.raises(ValueError, match="unknown scenario 'nope'; choose from: normal, stress"):
        sc.by_name(["nope"], tape)


def test_sizing_rule_lives_in_the_library():
    import backtester.sizing
    import strategies.sizing

    assert strategies.sizing.FundingAwareSizing is backtester.sizing.FundingAwareSizing
    assert strategies.sizing.funding_zscore is backtester.sizing.funding_zscore


# ============================================================================ import arrows
def _imports(path: Path):
    """(module imported, level) of every import statement of a file (docstrings excluded)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level


def _files(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


#: what the kernel may import besides itself
KERNEL_ALLOWED = {"numpy", "numba", "hashlib", "importlib", "pathlib", "threading", "typing", "__future__"}


def test_the_kernel_imports_nothing_outside_itself():
    bad = []
    for path in _files("backtester/kernel"):
        for module, level in _imports(path):
            if level == 1:
                continue  # the kernel itself
            if level > 1 or module.split(".")[0] not in KERNEL_ALLOWED:
                bad.append(f"{path.relative_to(ROOT)}: {'.' * level}{module}")
    assert not bad, "the kernel imports outside itself:\n" + "\n".join(bad)


def test_strategies_use_only_the_public_api():
    bad = []
    for path in _files("strategies"):
        for module, level in _imports(path):
            parts = module.split(".")
            if level == 0 and parts[0] == "backtester" and (
                    "kernel" in parts or any(p.startswith("_") for p in parts[1:])):
                bad.append(f"{path.relative_to(ROOT)}: {module}")
    assert not bad, "strategies reach into the library's internals:\n" + "\n".join(bad)


#: the command lines may offer the example strategies by name (the catalog)
MAY_IMPORT_STRATEGIES = {"backtester/cli.py", "backtester/sweep/cli.py"}


def test_the_library_does_not_import_its_examples():
    bad = []
    for path in _files("backtester"):
        rel = str(path.relative_to(ROOT))
        for module, level in _imports(path):
            if level == 0 and module.split(".")[0] == "strategies":
                if rel not in MAY_IMPORT_STRATEGIES or module != "strategies.catalog":
                    bad.append(f"{rel}: {module}")
    assert not bad, "backtester imports strategies:\n" + "\n".join(bad)


def test_the_two_command_lines_do_not_import_each_other_privately():
    for module, level in _imports(ROOT / "backtester/sweep/cli.py"):
        assert not (level == 2 and module == "cli"), "the sweep CLI imports backtester.cli"
