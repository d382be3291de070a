"""Process-wide settings for serving many sessions from one server (applied once, on first import), and
the sequence stamp of the messages sent to pages."""
import ctypes
import ctypes.util
import importlib
import logging
import threading
import time

M_ARENA_MAX = -8  # glibc's mallopt parameter number
ARENAS = 2


def limit_malloc_arenas(n: int = ARENAS) -> bool:
    """Each script-run thread would otherwise get a glibc malloc arena of its own (up to 8 per core),
    and memory freed when sessions close stays behind in them: with 20 sessions the server kept
    ~57 MB more after they left, with 2 arenas ~28 MB (bench/load.py). Same as MALLOC_ARENA_MAX=2;
    a no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, n))
    except (OSError, AttributeError):
        logging.getLogger("explorer").info("mallopt not available: malloc arenas left as they are")
        return False


_warming = threading.Lock()
_warm_started = False


def warm_torch() -> None:
    """Import the torch side of the app in a background thread, once per process: the first page is
    drawn without it, and a click or a server-decoded slider later finds it loaded."""
    global _warm_started
    with _warming:
        if _warm_started:
            return
        _warm_started = True
    threading.Thread(target=importlib.import_module, args=("explorer.backend.models",), name="warm-torch",
                     daemon=True).start()



_last, _lock = 0, threading.Lock()


def stamp() -> int:
    """A message's `seq`: milliseconds of the wall clock, strictly increasing in this server process
    (and, but for a clock set back, across its restarts, which a page open meanwhile outlives)."""
    global _last
    with _lock:
        _last = max(_last + 1, time.time_ns() // 1_000_000)
        return _last


limit_malloc_arenas()
