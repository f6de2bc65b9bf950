"""The numba kernel: ``*_nb`` functions over plain numpy arrays, no pandas or pyarrow.

Numba's on-disk cache (``cache=True``) checks only the source file of the function it loads,
not the files of the functions it calls, so after an edit in one kernel module another
module's cached machine code could still hold the old callee. On import we hash all kernel
sources and drop the kernel's cached machine code when the hash changed, wherever numba keeps
it: in-tree ``__pycache__``, ``NUMBA_CACHE_DIR``, or the user-wide fallback for a read-only
install (numba's own locator of each compiled function tells us where).
"""
import hashlib
import importlib
from pathlib import Path

_HERE = Path(__file__).resolve().parent
#: file in each cache directory holding the hash of the sources its machine code came from
MARKER = "kernel-sources.sha256"


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(_HERE.glob("*.py")):
        if path.name == "__init__.py":  # no compiled code here
            continue
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _dispatchers() -> list:
    """Every cached ``@njit`` function of the kernel (importing a module compiles nothing)."""
    from numba.core.registry import CPUDispatcher

    out = []
    for path in sorted(_HERE.glob("*_nb.py")):
        module = importlib.import_module(f"{__name__}.{path.stem}")
        out += [f for f in vars(module).values()
                if isinstance(f, CPUDispatcher) and f.__module__ == module.__name__ and f._cache is not None]
    return out


def cache_dirs() -> list[Path]:
    """The directories numba keeps the kernel's machine code in (its own locator's choice)."""
    return sorted({Path(f._cache._cache_path) for f in _dispatchers()})


def _refresh_cache() -> None:
    stamp = _sources_digest()
    stems = {p.stem for p in _HERE.glob("*_nb.py")}
    for cache in cache_dirs():
        marker = cache / MARKER
        try:
            if marker.exists() and marker.read_text() == stamp:
                continue
            cache.mkdir(parents=True, exist_ok=True)
            for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
                if f.name.split(".", 1)[0] in stems:  # only what our kernel modules wrote
                    f.unlink(missing_ok=True)
            marker.write_text(stamp)
        except OSError:  # read-only location: numba falls back to its own cache locator
            pass


_refresh_cache()


def is_cached() -> bool:
    """True when the event loop's compiled code is in numba's on-disk cache (warm start)."""
    return any(any(d.glob("loop_nb.run_nb-*.nbi")) for d in cache_dirs())
