"""Fixtures shared by the test modules.

``run_engine`` runs every known-answer test of ``tests/reference/test_reference.py`` on both
engines: the pure-Python reference and the numba kernel (hook mode through ``bt.run``, checked
against the reference's final state and ledger, and against the fast path for plans of targets;
``tests/kernel_adapter.kernel_answer``). A kernel run listed in
``tests/kernel_adapter.KNOWN_DIFFERENCES`` is a strict xfail.
"""
import pytest
from hypothesis import Phase, settings

from tests.kernel_adapter import ENGINES, KNOWN_DIFFERENCES, kernel_answer

#: ``pytest --hypothesis-profile=noshrink``: report the first failing example as drawn (shrinking
#: the reference comparisons' inputs can take many minutes while a disagreement is chased)
settings.register_profile("noshrink", phases=[Phase.explicit, Phase.reuse, Phase.generate])


@pytest.fixture(params=ENGINES)
def run_engine(request):
    """``run_reference``'s signature, answered by the engine of this parametrization.

    The test must call it at least once (a test that calls ``run_reference`` directly would
    check the reference twice and the kernel never).
    """
    # the reference as the test module imported it: pytest imports tests/reference as the
    # package ``reference`` (tests/ has no __init__.py), and the reference engine tells intents
    # apart by class, so ``tests.reference.engine`` would not recognise the test's intents
    reference = request.module.run_reference
    if request.param == "reference":
        engine = reference
    else:
        def engine(*args, **kwargs):
            return kernel_answer(*args, reference=reference, **kwargs)
    reason = KNOWN_DIFFERENCES.get(request.node.name)
    if request.param == "kernel" and reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    calls = []

    def run(dataset, markets, config, intents, reorgs=()):
        calls.append(1)
        return engine(dataset, markets, config, intents, reorgs=reorgs)

    yield run
    assert calls, f"{request.node.name} never called run_engine: nothing ran on the {request.param}"
