"""Server decoding over HTTP: with live decoding off, the decoder panel (live.js) asks the server for
each frame's pixels on a route of ours beside Streamlit's, not through a script run. A script run
re-renders every element of the page in the browser (~25 here), which made a server-decoded slider
release ~1.8x slower than a bare Streamlit app; a request is not a rerun. z still reaches Python on
release, as in live decoding (the panel's commit), for the map's cross, the link and the download.

    GET <server.baseUrlPath>/api/vae/decode?m=<model ident>&z=<v0>,<v1>,...
    200: 784 bytes, the pixel means x 255 rounded, row-major 28 x 28 (application/octet-stream)
    400 / 404 / 410 / 500: one line of text saying what is wrong (the panel shows it); 410: the
    checkpoint of a decoder torch must load was deleted or replaced since the page opened it

Only models that a session of this server has open can be asked for (`offer`), by the ident the
page was sent; z must have that model's latent size and finite values, and is clipped into its
slider ranges. The decode runs in a worker thread (a decoder the page cannot run needs torch).
"""
import logging
import math
import threading
from collections import OrderedDict

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from streamlit import config

from explorer.backend import trainer
from explorer.backend.infer import decode
from explorer.backend.projection import slider_ranges
from vae_core import history
from vae_core.errors import CheckpointError

PATH = "api/vae/decode"
EVERY_MS = 40  # the page starts a request at most this often: <= 25 a second per dragging viewer
MAX_QUERY = 16_384  # characters: a z of thousands of dims, far past any latent size we train
_KEEP = 16  # models offered, most recent first (each is the session's snapshot, already in memory)

GONE = "this checkpoint was deleted or replaced on the server: pick it again or reload the page"
_offered: OrderedDict = OrderedDict()  # ident -> (Snapshot, lo, hi)
_lock = threading.Lock()
log = logging.getLogger("explorer")


def url() -> str:
    """The route's path as the page must ask for it, under server.baseUrlPath."""
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return "/" + (base + "/" if base else "") + PATH


def for_page() -> dict:
    """What the page needs to ask (the blob header's `remote`): the path, and how often at most."""
    return {"url": url(), "every_ms": EVERY_MS}


def offer(view) -> None:
    """Let pages decode with this view's model (a session has it open)."""
    with _lock:
        if view.ident in _offered:
            _offered.move_to_end(view.ident)
            return
    lo, hi = np.asarray(slider_ranges(view.mu), np.float32).T
    with _lock:
        _offered[view.ident] = (view, lo, hi)
        while len(_offered) > _KEEP:
            _offered.popitem(last=False)


class Refused(ValueError):
    def __init__(self, status: int, problem: str):
        super().__init__(problem)
        self.status = status


def parse(query: dict) -> tuple:
    """(view, z clipped into its ranges) from the request's query, or Refused."""
    text = query.get("z", "")
    if len(text) > MAX_QUERY:
        raise Refused(400, "z: too long")
    with _lock:
        found = _offered.get(query.get("m", ""))
    if found is None:
        raise Refused(404, "this model is not open on the server any more: reload the page")
    view, lo, hi = found
    try:
        z = [float(v) for v in text.split(",")]
    except ValueError:
        raise Refused(400, f"z: expected {view.latent_dim} comma-separated numbers") from None
    if len(z) != view.latent_dim:
        raise Refused(400, f"z: expected {view.latent_dim} finite numbers, got {len(z)}")
    if not all(math.isfinite(v) for v in z):
        raise Refused(400, f"z: expected {view.latent_dim} finite numbers, got a NaN or an infinity")
    return view, np.clip(np.asarray(z, np.float32), lo, hi)


def pixels(view, z: np.ndarray) -> bytes:
    """The decoded digit's 784 bytes (explorer/infer.py: the one decode)."""
    return np.rint(decode(view, z)[0] * 255).astype(np.uint8).tobytes()


async def handle(request):
    try:
        view, z = parse(dict(request.query_params))
    except Refused as e:
        return PlainTextResponse(str(e), status_code=e.status)
    try:
        body = await run_in_threadpool(pixels, view, z)
    except (CheckpointError, OSError) as e:  # a decoder torch loads from a file deleted or replaced since
        log.warning("server decoding for %s: its checkpoint is gone or changed: %s", view.ident, e)
        return PlainTextResponse(GONE, status_code=410)
    except Exception:  # noqa: BLE001  the details go to the server log, the page gets one line
        log.exception("server decoding failed for %s", view.ident)
        return PlainTextResponse("decoding failed on the server (see its log)", status_code=500)
    return Response(body, media_type="application/octet-stream", headers={"Cache-Control": "no-store"})


# The Train view's history route: the page asks for a run's history from the byte it has up to
# (GET <base>/api/vae/history?h=<runs/NAME/model.history | checkpoints/NAME.history>&from=<offset>) and
# gets the whole, checked records after it (at most CHUNK bytes; header X-More: 1 when there are more,
# X-Live: 1 while its train.py runs). A replay is fetched once; a live run is asked again every
# ~150 ms, each answer only what is new. 404: no such history (yet); 422: damaged, one line.
HISTORY_PATH = "api/vae/history"
CHUNK = 4 << 20


def history_url() -> str:
    return url()[: -len(PATH)] + HISTORY_PATH


def history_chunk(rel: str, offset: int) -> tuple[bytes, bool, bool]:
    """(records from offset, more to come, live) of a history; ValueError / history.HistoryError."""
    path = trainer.history_file(rel)
    live = rel.startswith("runs/") and trainer.pid_alive(path.parent) is not None
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size > history.MAX_BYTES:
            raise history.HistoryError(f"{size >> 20} MB, over the {history.MAX_BYTES >> 20} MB a history may be")
        if not 0 <= offset <= size:
            raise ValueError("from: past the end")
        f.seek(offset)
        buf = f.read(min(size - offset, CHUNK + (1 << 20)))
    start = 0
    if offset == 0:
        if not buf.startswith(history.MAGIC):
            raise history.HistoryError("not a run history")
        start = len(history.MAGIC)
    _, end = history.parse(buf, start, final=False, limit=CHUNK)
    return buf[:end], offset + end < size and end >= CHUNK - (1 << 20), live  # stopped by CHUNK, not by a torn end


async def handle_history(request):
    q = request.query_params
    try:
        offset = int(q.get("from", "0"))
        body, more, live = await run_in_threadpool(history_chunk, q.get("h", ""), offset)
    except FileNotFoundError:
        return PlainTextResponse("no history yet", status_code=404)
    except history.HistoryError as e:
        return PlainTextResponse(f"this history is damaged: {e}", status_code=422)
    except (ValueError, OSError):
        return PlainTextResponse("not a history this server offers", status_code=404)
    return Response(body, media_type="application/octet-stream",
                    headers={"Cache-Control": "no-store", "X-More": str(int(more)), "X-Live": str(int(live))})


def routes() -> list:
    return [Route(url(), handle, methods=["GET"]), Route(history_url(), handle_history, methods=["GET"])]
