"""The numba kernel: ``*_nb`` functions over plain numpy arrays, no pandas or pyarrow.

Numba's on-disk cache (``cache=True``) checks only the source file of the function it loads,
not the files of the functions it calls, so after an edit in one kernel module another
module's cached machine code could still hold the old callee. On import we hash all kernel
sources and drop the package's cache when the hash changed.
"""
import hashlib
from pathlib import Path


def _refresh_cache() -> None:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(here.glob("*.py")):
        if path.name == "__init__.py":  # no compiled code here
            continue
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    stamp = digest.hexdigest()
    cache = here / "__pycache__"
    marker = cache / "kernel-sources.sha256"
    try:
        if marker.exists() and marker.read_text() == stamp:
            return
        cache.mkdir(exist_ok=True)
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            f.unlink(missing_ok=True)
        marker.write_text(stamp)
    except OSError:  # read-only install: numba falls back to its own cache locator
        pass


_refresh_cache()


def is_cached() -> bool:
    """True when the event loop's compiled code is in numba's on-disk cache (warm start)."""
    cache = Path(__file__).resolve().parent / "__pycache__"
    return any(cache.glob("loop_nb.run_nb-*.nbi"))
