"""The bridge the kernel crosses to run a strategy's ``on_decision`` (hybrid driver).

The event loop (:mod:`.loop_nb`) calls :func:`decision_hook` from a ``numba.objmode`` block at
each decision time. It is a module-level function of the kernel (not an argument), so the
kernel stays disk-cacheable and imports nothing outside itself; the driver pushes the callback
of the run in progress and pops it when the run ends. Exceptions are caught here, kept, and
re-raised by the driver once the kernel has returned. The one plain-Python module of the
kernel: an objmode call needs a Python function to call.

The callbacks are kept per thread: the objmode call runs on the thread running the kernel, so
hook-mode runs on several threads at once each find their own (a run started on another thread
from inside ``on_decision`` and awaited there is one of them), and a run started inside
``on_decision`` on the same thread stacks above the outer one.
"""
from __future__ import annotations

import threading

_LOCAL = threading.local()


def _stacks():
    """This thread's (callbacks, errors) stacks."""
    try:
        return _LOCAL.callbacks, _LOCAL.errors
    except AttributeError:
        _LOCAL.callbacks, _LOCAL.errors = [], []
        return _LOCAL.callbacks, _LOCAL.errors


def decision_hook(d: int) -> int:
    """Run the current strategy's decision ``d``; 0 on success, -1 if it raised."""
    callbacks, errors = _stacks()
    try:
        callbacks[-1](d)
        return 0
    except BaseException as exc:  # noqa: BLE001 - re-raised by the driver, with its traceback
        errors.append(exc)
        return -1


class installed:
    """Context manager: make ``callback`` the decision hook for the duration of a run."""

    def __init__(self, callback):
        self.callback = callback

    def __enter__(self):
        _stacks()[0].append(self.callback)
        return self

    def __exit__(self, *exc):
        _stacks()[0].pop()
        return False

    def raise_pending(self) -> None:
        errors = _stacks()[1]
        if errors:
            raise errors.pop()
