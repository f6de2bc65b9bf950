"""One writer at a time for a folder the tool owns (a fetch store, a sweep's ``out``)."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path


def take_lock(path: Path, busy: str):
    """Open ``path`` and lock it (``flock``) for this process; return the open file, which
    holds the lock until it is closed or the process ends, however it ends.

    When another process holds it, raise ``ValueError(busy.format(holder=...))``, the holder
    being what that process wrote: its pid, host and start time. Without ``fcntl`` (Windows)
    there is no lock and ``None`` is returned.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> lock = take_lock(Path(tempfile.mkdtemp()) / ".lock", "in use by {holder}")
    >>> lock is None or not lock.closed        # held until closed (or the process ends)
    True
    >>> if lock is not None:
    ...     lock.close()
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on this platform
        return None
    f = open(path, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise ValueError(busy.format(holder=holder)) from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    f.flush()
    return f
