"""The reference engine's hand-computed known answers, run on the numba kernel.

Every plain (non-hypothesis) test function of ``tests/reference/test_reference.py`` is run
again with its module attribute ``run_reference`` replaced by the kernel adapter
(``tests.kernel_adapter.run_kernel``), so the same inputs and the same hand-worked numbers
check the kernel. Parametrized tests are expanded from their ``parametrize`` marks.

A test that fails because of a genuine kernel/reference difference is listed in ``KNOWN``
with the reason and runs as ``xfail(strict=True)``: it must keep failing until fixed.

A second pass runs both engines on each of those inputs and checks that the adapter's
``final`` dict (cash, positions, equity, insurance, counterparty book, marks, totals) and its
ledger with the counterparty mirror rows equal the reference's, key for key.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import tests.reference.test_reference as known
from tests.kernel_adapter import run_kernel

# test name (with "[param]" for parametrized ones) -> reason it differs on the kernel
KNOWN: dict[str, str] = {}


def _is_hypothesis(fn) -> bool:
    return hasattr(fn, "hypothesis") or getattr(fn, "is_hypothesis_test", False)


def _cases():
    """(id, function, kwargs) for every plain test function of the reference's test module."""
    out = []
    for name, fn in inspect.getmembers(known, inspect.isfunction):
        if not name.startswith("test_") or fn.__module__ != known.__name__ or _is_hypothesis(fn):
            continue
        marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
        combos = [({}, "")]
        for mark in marks:
            argnames, values = mark.args[0], mark.args[1]
            names = [a.strip() for a in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
            new = []
            for kwargs, label in combos:
                for v in values:
                    v = v.values if hasattr(v, "values") and hasattr(v, "marks") else v  # pytest.param
                    vals = v if len(names) > 1 else (v,)
                    new.append(({**kwargs, **dict(zip(names, vals))},
                                (label + "-" if label else "") + "-".join(str(x) for x in vals)))
            combos = new
        for kwargs, label in combos:
            out.append((f"{name}[{label}]" if label else name, fn, kwargs))
    return sorted(out, key=lambda c: inspect.getsourcelines(c[1])[1])


CASES = _cases()


def test_every_reference_known_answer_is_collected():
    names = {c[0].split("[")[0] for c in CASES}
    plain = {n for n, f in inspect.getmembers(known, inspect.isfunction)
             if n.startswith("test_") and f.__module__ == known.__name__ and not _is_hypothesis(f)}
    assert names == plain and len(plain) >= 15
    assert "test_order_sent_into_downtime[queue]" in {c[0] for c in CASES}
    assert not set(KNOWN) - {c[0] for c in CASES}, "stale KNOWN entries"


@pytest.mark.parametrize(
    "fn, kwargs",
    [pytest.param(fn, kw, id=cid, marks=[pytest.mark.xfail(strict=True, reason=KNOWN[cid])] if cid in KNOWN else [])
     for cid, fn, kw in CASES])
def test_known_answer_on_kernel(fn, kwargs, monkeypatch):
    calls = []

    def kernel_backed(dataset, markets, config, intents, reorgs=()):
        calls.append(1)
        return run_kernel(dataset, markets, config, intents, reorgs=reorgs)

    monkeypatch.setattr(known, "run_reference", kernel_backed)
    fn(**kwargs)
    assert calls, "the test did not call run_reference: nothing ran on the kernel"


def _assert_same(kernel, ref, path="final"):
    """Same nested structure (dict keys) and values to float tolerance."""
    if isinstance(ref, dict):
        assert isinstance(kernel, dict) and set(kernel) == set(ref), f"{path}: keys {sorted(kernel)} != {sorted(ref)}"
        for k in ref:
            _assert_same(kernel[k], ref[k], f"{path}[{k!r}]")
    else:
        assert kernel == pytest.approx(ref, rel=1e-9, abs=1e-7, nan_ok=True), f"{path}: kernel {kernel!r}, reference {ref!r}"


@pytest.mark.parametrize("fn, kwargs", [pytest.param(fn, kw, id=cid) for cid, fn, kw in CASES])
def test_adapter_final_and_ledger_match_the_reference(fn, kwargs, monkeypatch):
    """The adapter's ``final`` dict and ledger (with counterparty mirror rows) equal the
    reference's on every known-answer input: same keys, same values, same totals per
    (account, kind). The test's own assertions then run on the reference's answer."""
    reference = known.run_reference

    def both(dataset, markets, config, intents, reorgs=()):
        ref = reference(dataset, markets, config, intents, reorgs=reorgs)
        ker = run_kernel(dataset, markets, config, intents, reorgs=reorgs)
        final_ref = dict(ref.final)
        final_ker = dict(ker.final)
        # the reference audits after every timestamp, the kernel only at the end: both ~0
        assert final_ker.pop("max_conservation_error") < 1e-9
        assert final_ref.pop("max_conservation_error") < 1e-9
        _assert_same(final_ker, final_ref)
        totals = [led.groupby(["account", "kind"])["amount"].sum().sort_index() for led in (ker.ledger, ref.ledger)]
        assert list(totals[0].index) == list(totals[1].index), f"ledger rows differ:\n{totals[0]}\n{totals[1]}"
        np.testing.assert_allclose(totals[0].to_numpy(), totals[1].to_numpy(), rtol=1e-9, atol=1e-9)
        assert len(ker.ledger) == len(ref.ledger)
        return ref

    monkeypatch.setattr(known, "run_reference", both)
    fn(**kwargs)
