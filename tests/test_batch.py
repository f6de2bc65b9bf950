"""Many plan-only runs on threads without the GIL (``backtester.batch``).

The contract: a run inside a batch gives exactly the records it gives alone, whatever the
other runs of the batch, the number of threads or the buffer sizes it starts with; and the
runs of a batch really run on the threads asked for, with the GIL released.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backtester as bt
import data_loaders as dl
import backtester.batch as batch_mod
from backtester.batch import iter_runs, run_engines, run_many
from backtester.driver import Prepared, run_prepared
from backtester.engine import Engine
from backtester.kernel import enums as E
from backtester.prepare import layout_for, prepare, with_decisions
from backtester.strategy import TARGET_KINDS
from strategies import BuyAndHold, MaCross, TrendFollowing
from tests.kernel_adapter import sim_config
from tests.reference.gen import reference_inputs

RECORDS = ("orders", "fills", "funding", "liquidations", "ledger", "samples", "transfers")


def assert_same_records(a: Engine, b: Engine, label=""):
    """Field by field (padding bytes between fields may differ), NaN equal to NaN."""
    for name in RECORDS:
        x, y = a.records(name), b.records(name)
        assert len(x) == len(y), f"{label} {name}: {len(x)} vs {len(y)} rows"
        for field in x.dtype.names:
            assert np.array_equal(x[field], y[field], equal_nan=x[field].dtype.kind == "f"), \
                f"{label} {name}.{field} differs"
    for name in ("cash", "pos", "entry", "insurance", "counters"):
        assert np.array_equal(getattr(a.state, name), getattr(b.state, name)), f"{label} state.{name} differs"


@pytest.fixture(scope="module")
def prepared():
    import data_loaders as dl

    # six hours around the sample's dYdX outage (14:00-17:00): fills, funding, a venue down
    return Prepared.build(dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00"), bt.SimConfig())


def mixed():
    """Plan-only runs of different params and kinds, and a hook-mode one in the middle."""
    return [MaCross(fast=5, slow=60), MaCross(fast=20, slow=120, leverage=3.0), TrendFollowing(),
            BuyAndHold(leverage=2.0), MaCross(fast=10, slow=30, leverage=0.5)]


@pytest.mark.parametrize("n_threads", [1, 2])
def test_run_many_equals_runs_alone(prepared, n_threads):
    alone = [run_prepared(s, prepared) for s in mixed()]
    together = run_many(mixed(), prepared, n_threads=n_threads)
    assert len(together) == len(alone)
    for a, b, s in zip(alone, together, mixed()):
        assert type(b.strategy) is type(s)
        assert_same_records(a.engine, b.engine, type(s).__name__)
        assert a.stats()["final_equity"] == b.stats()["final_equity"]
    assert len({round(r.stats()["final_equity"], 6) for r in together}) == len(together)  # runs differ


def _counting(calls: list):
    """A ``run_nb`` that records (thread, run's state reference) of every call."""
    import threading

    real = batch_mod.run_nb

    def counting(inp, st, bk):
        calls.append((threading.get_ident(), st))
        return real(inp, st, bk)

    return counting


def test_plan_only_runs_are_dealt_to_threads(prepared, monkeypatch):
    calls = []
    monkeypatch.setattr(batch_mod, "run_nb", _counting(calls))
    results = run_many([MaCross(fast=f, slow=60) for f in (3, 5, 8, 13, 21)], prepared, n_threads=1)
    assert len(calls) == 5 and len({t for t, _ in calls}) == 1  # one call per run, one thread
    assert all(int(r.engine.state.counters[E.C_EVENT]) == len(prepared.inputs.ev_ts) for r in results)
    calls.clear()
    run_many([MaCross(fast=f, slow=60) for f in (3, 5, 8, 13, 21)], prepared, n_threads=2)
    threads = {}
    for t, _ in calls:
        threads[t] = threads.get(t, 0) + 1
    assert sorted(threads.values()) == [2, 3]  # round-robin over two threads
    calls.clear()
    run_many([MaCross(fast=3, slow=60)], prepared, n_threads=8)
    assert len(calls) == 1  # never more threads than runs


def test_python_runs_while_a_batched_run_is_in_the_kernel():
    """While a batch's thread is inside the kernel, other threads run Python: the kernel
    released the GIL. (The switch interval is set far longer than the run, so with the GIL
    held the main thread could only run again once the call had returned and said so.)"""
    import sys
    import threading

    big = Prepared.build(dl.sample(), bt.SimConfig())
    run_engines([_planned_engine(MaCross(fast=3, slow=60), big)], 1)  # the kernel loaded (I/O frees the GIL)
    engine = _planned_engine(MaCross(fast=3, slow=60, every="1s"), big)
    inside, seen = [False], [False]
    real = batch_mod.run_nb

    def flagged(inp, st, bk):
        inside[0] = True
        try:
            return real(inp, st, bk)
        finally:
            inside[0] = False

    interval = sys.getswitchinterval()
    batch_mod.run_nb = flagged
    sys.setswitchinterval(30.0)
    try:
        worker = threading.Thread(target=run_engines, args=([engine], 1))
        worker.start()
        while worker.is_alive():
            seen[0] = seen[0] or inside[0]
            time.sleep(0.0005)  # releases the GIL: the worker is never held up by this loop
        worker.join()
    finally:
        sys.setswitchinterval(interval)
        batch_mod.run_nb = real
    assert int(engine.state.counters[E.C_EVENT]) == len(big.inputs.ev_ts)
    assert seen[0], "no Python ran while the run was in the kernel: is the GIL released?"


def test_full_buffers_grow_inside_a_batch(prepared):
    """Runs starting with tiny record buffers leave the kernel, grow, and re-enter alone."""
    alone = [run_prepared(s, prepared) for s in mixed()[:2]]
    engines = []
    for s in mixed()[:2]:
        eng = _planned_engine(s, prepared)
        _shrink(eng)
        engines.append(eng)
    calls = []
    batch_mod.run_nb, saved = _counting(calls), batch_mod.run_nb
    try:
        run_engines(engines, 1)
    finally:
        batch_mod.run_nb = saved
    assert len(calls) > 2  # each run left the kernel to grow at least once
    for a, b in zip(alone, engines):
        assert_same_records(a.engine, b)


def _planned_engine(strategy, prepared) -> Engine:
    from backtester.driver import engine_for

    return engine_for(strategy, prepared)


def _shrink(eng: Engine) -> None:
    st_ = eng.state
    eng.state = st_._replace(orders=np.zeros(1, E.order_dt), fills=np.zeros(1, E.fill_dt),
                             fill_acked=np.zeros(1, np.bool_), ledger=np.zeros(1, E.ledger_dt),
                             samples=np.zeros(2, E.sample_dt))


def _failing_at(engines, bad: int):
    """A ``run_nb`` that fails (once) when it is given run ``bad``'s state."""
    real = batch_mod.run_nb
    target = engines[bad].refs()[1]  # the reference run_engines hands over (Engine.refs caches it)
    state = {"failed": False}

    def fake(inp, st, bk):
        if st is target and not state["failed"]:
            state["failed"] = True
            raise MemoryError("boom in the kernel")
        return real(inp, st, bk)

    return fake


@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_failing_run_does_not_take_its_batch_with_it(prepared, monkeypatch, n_threads):
    strategies = [MaCross(fast=f, slow=60) for f in (3, 5, 8, 13, 21)]
    alone = [run_prepared(s, prepared) for s in strategies]
    engines = [_planned_engine(s, prepared) for s in strategies]
    monkeypatch.setattr(batch_mod, "run_nb", _failing_at(engines, 0))  # the first run of its part
    out = run_engines(engines, n_threads, errors="return")
    assert isinstance(out[0], MemoryError)
    for i in range(1, 5):
        assert isinstance(out[i], float) and out[i] > 0
        assert_same_records(alone[i].engine, engines[i], f"run {i}")
    engines = [_planned_engine(s, prepared) for s in strategies]
    monkeypatch.setattr(batch_mod, "run_nb", _failing_at(engines, 2))
    with pytest.raises(MemoryError, match="boom"):
        run_engines(engines, n_threads)
    assert all(int(engines[i].state.counters[E.C_EVENT]) == len(prepared.inputs.ev_ts) for i in (0, 1, 3, 4))


def test_a_run_that_cannot_grow_fails_alone(prepared, monkeypatch):
    strategies = [MaCross(fast=5, slow=60), MaCross(fast=8, slow=60)]
    alone = run_prepared(strategies[1], prepared)
    engines = [_planned_engine(s, prepared) for s in strategies]
    for eng in engines:
        _shrink(eng)

    def no_memory():
        raise MemoryError("no room")

    monkeypatch.setattr(engines[0], "make_room", no_memory)
    out = run_engines(engines, 2, errors="return")
    assert isinstance(out[0], MemoryError) and isinstance(out[1], float)
    assert_same_records(alone.engine, engines[1])


def test_engines_listed_twice_are_refused(prepared):
    eng = _planned_engine(MaCross(fast=5, slow=60), prepared)
    with pytest.raises(ValueError, match="twice"):
        run_engines([eng, eng])


def test_the_kernel_releases_the_gil():
    from backtester.kernel.loop_nb import run_nb

    assert run_nb.targetoptions.get("nogil") is True


_SHARED = {}


class GlobalState(bt.Strategy):
    """A hook-mode strategy that keeps what it needs in module state set by ``init``."""

    params = dict(lev=1.0)
    every = "30min"

    def init(self, data):
        _SHARED["lev"] = self.lev

    def on_decision(self, ctx):
        sign = 1.0 if ctx.decision % 2 else -1.0
        ctx.target_leverage("BTC-USD", sign * _SHARED["lev"])


def test_hook_runs_go_right_after_their_init(prepared):
    """A run with on_decision sees what its own init left, not the next strategy's."""
    strategies = [GlobalState(lev=0.5), MaCross(fast=5, slow=60), GlobalState(lev=3.0)]
    together = run_many(strategies, prepared)
    for s, res in zip([GlobalState(lev=0.5), MaCross(fast=5, slow=60), GlobalState(lev=3.0)], together):
        assert_same_records(run_prepared(s, prepared).engine, res.engine, repr(s))
        assert res.elapsed_s > 0
    assert together[0].stats()["fees"] != together[2].stats()["fees"]


def test_errors_in_on_decision_are_returned_in_place(prepared):
    class Raises(GlobalState):
        def on_decision(self, ctx):
            raise ZeroDivisionError("in on_decision")

    out = run_many([Raises(), MaCross(fast=5, slow=60)], prepared, errors="return")
    assert isinstance(out[0], ZeroDivisionError)
    assert_same_records(out[1].engine, run_prepared(MaCross(fast=5, slow=60), prepared).engine)


def test_errors_return_in_place_or_raise(prepared):
    class Broken(MaCross):
        def init(self, data):
            raise RuntimeError("boom")

    out = run_many([MaCross(fast=5, slow=60), Broken(), MaCross(fast=8, slow=60)], prepared, errors="return")
    assert isinstance(out[1], RuntimeError) and str(out[1]) == "boom"
    assert_same_records(out[0].engine, run_prepared(MaCross(fast=5, slow=60), prepared).engine)
    assert_same_records(out[2].engine, run_prepared(MaCross(fast=8, slow=60), prepared).engine)
    with pytest.raises(RuntimeError, match="boom"):
        run_many([MaCross(fast=5, slow=60), Broken()], prepared)
    with pytest.raises(ValueError, match="errors"):
        run_many([], prepared, errors="ignore")
    assert run_many([], prepared) == []


def test_hook_mode_engines_are_refused(prepared):
    eng = _planned_engine(TrendFollowing(), prepared)
    with pytest.raises(ValueError, match="hook mode"):
        run_engines([eng])


def test_n_threads_is_checked(prepared):
    engines = [_planned_engine(MaCross(fast=5, slow=60), prepared)]
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_threads"):
            run_engines(engines, bad)


# ---------------------------------------------------------------------------- random inputs
@st.composite
def plans(draw):
    """Reference-style random markets plus a few random target plans on shared decisions."""
    inputs = draw(reference_inputs())
    n_dec = draw(st.integers(1, 12))
    k = draw(st.integers(1, 4))
    value = st.one_of(st.just(np.nan), st.floats(-6.0, 6.0, allow_nan=False).map(lambda v: round(v, 2)))
    targets = [draw(st.lists(st.lists(value, min_size=2, max_size=2), min_size=n_dec, max_size=n_dec))
               for _ in range(k)]
    modes = [draw(st.sampled_from(sorted(TARGET_KINDS.values())))
             for _ in range(k)]
    fractions = sorted(draw(st.lists(st.floats(0.0, 1.0), min_size=n_dec, max_size=n_dec)))
    tiny = draw(st.booleans())
    return inputs, targets, modes, fractions, tiny


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=plans())
def test_batch_matches_single_runs_on_random_inputs(case):
    inputs, targets, modes, fractions, tiny = case
    cfg = sim_config(inputs["markets"], inputs["config"])
    lay = layout_for(inputs["dataset"], cfg)  # the config's markets include every spec's
    base, _ = prepare(inputs["dataset"], cfg, lay, reorgs=[(r.ts, r.venue) for r in inputs["reorgs"]])
    span = lay.end_ns - lay.start_ns
    dc = np.unique(np.array([lay.start_ns + int(f * span) for f in fractions], np.int64))
    M = len(lay.markets)

    def engines():
        out = []
        for tg, mode in zip(targets, modes):
            tg = np.array(tg, np.float64)[: len(dc), :M]
            if tg.shape[1] < M:
                tg = np.pad(tg, ((0, 0), (0, M - tg.shape[1])), constant_values=np.nan)
            out.append(Engine(with_decisions(base, dc, tg, mode), lay, cfg))
        return out

    alone = engines()
    for eng in alone:
        eng.run()
    together = engines()
    if tiny:
        for eng in together:
            _shrink(eng)
    run_engines(together, 2)
    for i, (a, b) in enumerate(zip(alone, together)):
        assert_same_records(a, b, f"run {i}")


def test_distinct_trade_times_equal_np_unique():
    # "auto" equity samples read the median spacing of the distinct trade times; they are
    # found by a sort and a mask (numpy 2's hash-based unique took 0.5 s on the sample)
    from backtester.prepare import _distinct_sorted

    rng = np.random.default_rng(7)
    for n in (0, 1, 2, 3, 50, 2_000):
        for _ in range(10):
            ts = rng.integers(-5, n // 3 + 2, n).astype(np.int64)
            for case in (ts, np.sort(ts)):
                out = _distinct_sorted(case)
                assert out.dtype == np.int64 and np.array_equal(out, np.unique(case))


class _Broken(bt.Strategy):
    params = dict(market="BTC-USD")
    every = "1h"

    def init(self, data):
        raise ZeroDivisionError("init broke")


def test_iter_runs_yields_each_run_once_as_it_finishes(prepared):
    strategies = mixed() + [_Broken()]
    alone = [run_prepared(s, prepared) for s in mixed()]
    seen = {}
    for i, res in iter_runs(strategies, prepared, n_threads=2, errors="return"):
        assert i not in seen
        seen[i] = res
    assert sorted(seen) == list(range(len(strategies)))
    assert isinstance(seen[len(strategies) - 1], ZeroDivisionError)
    for i, a in enumerate(alone):
        assert_same_records(a.engine, seen[i].engine, f"run {i}")
        assert seen[i].elapsed_s > 0
    with pytest.raises(ZeroDivisionError, match="init broke"):
        list(iter_runs([_Broken()] + mixed()[:1], prepared))


def test_iter_runs_wants_a_prepared_dataset():
    import data_loaders as dl

    with pytest.raises(TypeError, match="expected a Prepared dataset .*got Dataset"):
        list(iter_runs([MaCross()], dl.sample("btcusdt-tape")))
