"""Build the kernel's references (``InputsRef``, ``StateRef``) from their NamedTuples.

See :mod:`.state`: the references hold the NamedTuples' own arrays, so what the kernel writes
through a ``StateRef`` is in the ``State`` at once, and Python reads results from the
NamedTuple as before.
"""
from numba import njit

from .state import InputsProxy, StateProxy, conform


@njit(cache=True)
def _inputs_ref_nb(inp):
    return InputsProxy(*inp)


@njit(cache=True)
def _state_ref_nb(st):
    return StateProxy(*st)


def inputs_ref(inp):
    """An ``InputsRef`` over ``inp``'s arrays (read-only views; only an array of another
    dtype or layout is copied: see :func:`.state.conform`)."""
    return _inputs_ref_nb(conform(inp))


def state_ref(st):
    """A ``StateRef`` over ``st``'s arrays (they must already have their fixed dtypes)."""
    return _state_ref_nb(conform(st))
