"""Process-wide settings for serving many sessions from one server; applied once, on first import."""
import ctypes
import ctypes.util
import logging

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


limit_malloc_arenas()
