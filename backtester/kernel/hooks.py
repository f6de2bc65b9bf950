"""The bridge the kernel crosses to run a strategy's ``on_decision`` (hybrid driver).

The event loop (:mod:`.loop_nb`) calls :func:`decision_hook` from a ``numba.objmode`` block at
each decision time. It is a module-level function of the kernel (not an argument), so the
kernel stays disk-cacheable and imports nothing outside itself; the driver pushes the callback
of the run in progress and pops it when the run ends. Exceptions are caught here, kept, and
re-raised by the driver once the kernel has returned. The one plain-Python module of the
kernel: an objmode call needs a Python function to call.
"""
from __future__ import annotations

import threading

_CALLBACKS: list = []
#: held by whoever runs a strategy through the hook: one hook-mode run at a time per process
#: (the kernel finds the callback in this module, not in its arguments)
HOOK_LOCK = threading.RLock()
_ERRORS: list = []


def decision_hook(d: int) -> int:
    """Run the current strategy's decision ``d``; 0 on success, -1 if it raised."""
    try:
        _CALLBACKS[-1](d)
        return 0
    except BaseException as exc:  # noqa: BLE001 - re-raised by the driver, with its traceback
        _ERRORS.append(exc)
        return -1


class installed:
    """Context manager: make ``callback`` the decision hook for the duration of a run."""

    def __init__(self, callback):
        self.callback = callback

    def __enter__(self):
        _CALLBACKS.append(self.callback)
        return self

    def __exit__(self, *exc):
        _CALLBACKS.pop()
        return False

    def raise_pending(self) -> None:
        if _ERRORS:
            raise _ERRORS.pop()
