"""The reference engine's hand-computed known answers run on the numba kernel too.

Every plain (non-hypothesis) test of ``tests/reference/test_reference.py`` takes the
``run_engine`` fixture (``tests/conftest.py``), parametrized over ``ENGINES``: pytest runs it
once on the reference and once on the kernel (hook mode through ``bt.run``; its final state
and ledger must also equal the reference's key for key, and, for a plan of targets, the fast
path must give the same answer: ``tests/kernel_adapter.kernel_answer``). A kernel run that
fails because of a genuine kernel/reference difference is listed in
``tests/kernel_adapter.KNOWN_DIFFERENCES`` and runs as ``xfail(strict=True)``.

This module checks that the arrangement holds: every known answer is collected for both
engines, calls the engine it is given, and every ``KNOWN_DIFFERENCES`` entry names a kernel run.
"""
from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import tests.reference.test_reference as known
from tests.kernel_adapter import ENGINES, KNOWN_DIFFERENCES

ROOT = Path(__file__).resolve().parents[1]


def _is_hypothesis(fn) -> bool:
    return hasattr(fn, "hypothesis") or getattr(fn, "is_hypothesis_test", False)


def _known_answers() -> dict:
    return {name: fn for name, fn in inspect.getmembers(known, inspect.isfunction)
            if name.startswith("test_") and fn.__module__ == known.__name__ and not _is_hypothesis(fn)}


def test_every_known_answer_takes_the_engine_fixture():
    tests = _known_answers()
    assert ENGINES == ("reference", "kernel")
    assert len(tests) >= 25
    missing = sorted(n for n, fn in tests.items() if "run_engine" not in inspect.signature(fn).parameters)
    assert not missing, f"known answers without the run_engine fixture (they would run on the reference only): {missing}"
    # a known answer (or a helper it calls) naming run_reference would check the reference
    # twice and the kernel never; the fixture also fails a test that never calls it
    direct = sorted(n for n, fn in inspect.getmembers(known, inspect.isfunction)
                    if fn.__module__ == known.__name__ and not _is_hypothesis(fn)
                    and "run_reference" in fn.__code__.co_names)
    assert not direct, f"call run_engine, not run_reference: {direct}"


@pytest.fixture(scope="module")
def collected() -> list[str]:
    """The test ids pytest collects from the reference's test module (collection only)."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "tests/reference/test_reference.py"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return [line.split("::", 1)[1] for line in out.stdout.splitlines() if "::" in line]


def test_every_known_answer_is_collected_for_both_engines(collected):
    names = {i.split("[")[0] for i in collected}
    assert set(_known_answers()) <= names
    for engine in ENGINES:
        runs = {i.split("[")[0] for i in collected if engine in i.split("[", 1)[-1].rstrip("]").split("-")}
        assert runs == set(_known_answers()), f"not collected on the {engine}: {set(_known_answers()) - runs}"
    assert "test_order_sent_into_downtime[kernel-queue]" in collected


def test_known_differences_name_kernel_runs(collected):
    stale = set(KNOWN_DIFFERENCES) - {i for i in collected if "kernel" in i}
    assert not stale, f"KNOWN_DIFFERENCES entries that are no kernel run of a known answer: {sorted(stale)}"
