"""How the kernel compiles: what a run without book data reaches, and one compiled copy per
fixed signature (issue 11: the cold compile is paid by every new machine, CI run and notebook).

These read the compiler's view of the kernel (numba's own front end and branch pruning), so
they stay fast: nothing here compiles the event loop again.
"""
import inspect

import numpy as np
import pytest

import backtester as bt
import data_loaders as dl
from backtester.kernel import loop_nb
from backtester.kernel.accounts_nb import account_state_nb, mark_nb
from backtester.kernel.state import BOOK, TYPED, InputsRef, StateRef
from strategies import MaCross

numba_core = pytest.importorskip("numba.core")
from numba.core import analysis, compiler, ir, types  # noqa: E402
from numba.core.registry import CPUDispatcher  # noqa: E402


def _reachable(root, bk_type) -> set:
    """Kernel functions the compiler reaches from ``root`` when every ``bk`` argument has
    ``bk_type``: numba's front end and its dead-branch pruning, exactly as the pipeline runs
    them before typing (a pruned call is never typed, so never compiled)."""
    seen, todo = set(), [root]
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        func_ir = compiler.run_frontend(d.py_func)
        params = list(inspect.signature(d.py_func).parameters)
        if "bk" in params:
            args = [types.unknown] * len(params)
            args[params.index("bk")] = bk_type
            analysis.dead_branch_prune(func_ir, tuple(args))
        for block in func_ir.blocks.values():
            for stmt in block.body:
                if (isinstance(stmt, ir.Assign) and isinstance(stmt.value, (ir.Global, ir.FreeVar))
                        and isinstance(stmt.value.value, CPUDispatcher)):
                    todo.append(stmt.value.value)
    return {f"{d.__module__.rsplit('.', 1)[-1]}.{d.__name__}" for d in seen}


def _book_code(names) -> set:
    return {n for n in names if n.startswith("book_nb.") or n == "match_nb.book_arrival_nb"}


def test_a_run_without_book_data_reaches_no_book_code():
    without = _reachable(loop_nb.run_nb, types.none)
    with_book = _reachable(loop_nb.run_nb, types.boolean)
    assert _book_code(without) == set()
    # the control: with the flag set, the walk, the queue and the level updates are all reached
    assert {"book_nb.book_rows_nb", "book_nb.walk_nb", "book_nb.touch_nb", "book_nb.queue_update_nb",
            "book_nb.apply_snapshot_nb", "match_nb.book_arrival_nb"} <= _book_code(with_book)
    assert without < with_book  # nothing else differs in what is reached
    assert with_book - without == _book_code(with_book)


def test_the_engine_sets_the_book_flag_from_its_inputs():
    plain = bt.run(MaCross(), dl.sample())
    assert plain.engine.book_flag is None
    tape = bt.run(MaCross(every="1min"), dl.sample("btcusdt-tape"))
    assert tape.engine.book_flag is BOOK


def test_fixed_signature_functions_compile_only_their_declared_signatures():
    res = bt.run(MaCross(), dl.sample())
    inp, st = res.engine.refs()
    # called from Python with an int32 and with a Python int: both convert to the declared i8
    a = account_state_nb(inp, st, np.int32(0))
    assert a == account_state_nb(inp, st, 0)
    assert float(mark_nb(st, np.int32(0))) == float(mark_nb(st, 0))
    for d in (account_state_nb, mark_nb):
        assert d.signatures and set(d.signatures) <= {s.args for s in d.declared()}
    # and no function with a fixed signature holds another (callers converted to it)
    for d in TYPED:
        extra = set(d.signatures) - {s.args for s in d.declared()}
        assert not extra, (d.__name__, extra)


def test_book_flag_signatures_come_in_pairs():
    # a BK function has its copy without the book code (none) and the one with it (b1)
    from backtester.kernel.dynamic_nb import advance_nb

    flags = sorted(str(s.args[-1]) for s in advance_nb.declared())
    assert flags == ["bool", "none"]
    assert all(s.args[:2] == (InputsRef, StateRef) for s in advance_nb.declared())


def test_read_only_writable_and_mistyped_inputs_reuse_the_one_compiled_loop():
    # pandas 3's to_numpy() gives read-only views and users build inputs with other dtypes:
    # either used to compile the whole event loop a second time
    from backtester.engine import Engine

    res = bt.run(MaCross(), dl.sample())
    loops = set(loop_nb.run_nb.signatures)
    inp = res.engine.inputs
    writable = {f: np.array(getattr(inp, f)) for f in ("ev_ts", "tr_price", "tr_size")}
    mistyped = {"tr_market": inp.tr_market.astype(np.int64), "tr_price": inp.tr_price.astype(np.float32),
                "fu_rate": np.asfortranarray(inp.fu_rate.astype(np.float32))}
    read_only = np.array(inp.or_price)
    read_only.flags.writeable = False
    for change in (writable, mistyped, {"or_price": read_only}):
        engine = Engine(inp._replace(**change), res.engine.layout, res.engine.config)
        assert all(a.dtype == b.dtype and not a.flags.writeable for a, b in zip(engine.inputs, inp))
        engine.run()
        assert engine.records("fills").shape == res.engine.records("fills").shape
    assert set(loop_nb.run_nb.signatures) == loops
