"""Process-wide settings for serving many sessions from one server; applied once, on first import.
Also what the server does in the background while the first browser loads the page's shell."""
import contextlib
import ctypes
import ctypes.util
import importlib
import logging
import threading

log = logging.getLogger("explorer")
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
        log.info("mallopt not available: malloc arenas left as they are")
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
    threading.Thread(target=importlib.import_module, args=("explorer.models",), name="warm-torch",
                     daemon=True).start()


def warm_up_page(modules: tuple[str, ...]):
    """A lifespan for st.App: once the server is up, pay the first page's one-off costs in a
    background thread, while the first browser is still loading Streamlit's page shell (~1 s), so
    that the first script run does not. Each of these cost the first page once per process:
    importing the page's own modules and plotly (~0.1-0.3 s), Streamlit's first element
    (inspect.stack() over every frame and module, ~0.1 s, to decide whether to warn that this is
    not `streamlit run`), the page icon's emoji check (compiling one huge regex, ~0.13 s) and
    plotly's first figure (its templates and validators, ~0.15 s)."""
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        threading.Thread(target=warm_page, args=(modules,), name="warm-page", daemon=True).start()
        yield
    return lifespan


def warm_page(modules: tuple[str, ...]) -> list[str]:
    """Import `modules` and run the first page's one-off work (see warm_up_page); returns what was
    warmed. A Streamlit detail it reaches for that is gone is skipped, said once in the log."""
    done = []
    from streamlit import delta_generator
    first_element = getattr(delta_generator, "_maybe_print_use_warning", None)  # no public API: checked
    if callable(first_element):
        first_element()  # once per process; runs inspect.stack() here, on this thread's short stack
        done.append("first element")
    else:
        log.info("warm-up: Streamlit's first-element check not found; the first page pays it")
    for name in ("streamlit.emojis", *modules):
        importlib.import_module(name)
        done.append(name)
    import numpy as np
    from explorer import figures
    figures.latent_map(np.zeros((2, 2)), np.arange(2), ["0", "1"])
    done.append("first figure")
    return done


limit_malloc_arenas()
