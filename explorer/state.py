"""The session's explorer state: every session-state key the app uses is named here, once, and
read or written through this module (widgets are given `Key` names; values go through the
functions below). Streamlit keeps the values per browser session."""
import logging

import numpy as np
import streamlit as st

from explorer.backend.projection import slider_ranges
from explorer.backend.snapshot import Snapshot

log = logging.getLogger("explorer")


class Key:
    """Session-state keys. Widget keys first (the widget owns the value), then the app's own."""
    CKPT = "ckpt"  # the checkpoint picker
    TAB = "tab"  # the open view (Explore, Canvas, Interpolate)
    PLANE, DIM_I, DIM_J = "plane", "dim_i", "dim_j"  # the map's plane (latent size > 2)
    UNDERLAY, CONTOURS = "underlay", "contours"  # the map's optional layers
    A, B, INTERP_K = "A", "B", "interp_k"  # interpolation ends (test indices) and steps
    CANVAS_N, CANVAS_SPACING, CANVAS_EXTENT, CANVAS_I, CANVAS_J = (
        "canvas_n", "canvas_spacing", "canvas_extent", "canvas_i", "canvas_j")
    MAP = "map"  # the latent map chart (its selection); the page finds the chart by this key
    LIVE = "live"  # the in-page decoder
    POST = "post"  # invisible page helper: the decoder fragment's small messages (post.py)
    MAP_OVERLAYS, MAP_HOVER = "map_overlays", "map_hover"  # invisible page helpers
    MAP_PREVIEW = "map_preview"  # the map drawn from its points while plotly.js loads (its clicks)
    LAST_PREVIEW_CLICK = "last_preview_click"  # the last click on it taken
    PRELOAD = "preload"  # written literally in preload.py, which runs before any other import
    STATE_FOR = "state_for"  # the checkpoint ident the values below belong to
    TAB_SHOWN = "tab_shown"  # the view last drawn (the switcher's own value can be lost: app.py)
    Z, Z_VERSION, Z_PUSHED = "z", "z_version", "z_pushed"  # decoder point; bumped when Python moves it
    SELECTED, LAST_PICK = "selected", "last_pick"  # the clicked test digit; the last map selection seen
    AB_CHOSEN = "ab_chosen"  # which interpolation ends the user chose
    RANGES = "ranges"  # per-dim slider [lo, hi]
    LINK_READ, LINK_BAD = "link_read", "link_bad"  # a link is read once per session
    LINK_CKPT = "link_ckpt"  # the link's checkpoint: the picker's default for the session
    LINK_NOTICE, LINK_NOTICE_OK = "link_notice", "link_notice_ok"  # what of the link did not fit; its OK button
    LINK = "link"  # invisible page helper: the address bar's query string
    END_POINTS = "end_points"  # {"A": z or None, "B": ...}: an end set to the user's own digit, not a test index
    DRAW_ON, DRAW, UPLOAD = "draw_on", "draw", "upload"  # the "Your digit" toggle, canvas and uploader
    DRAW_ENCODER, DRAW_OFF = "draw_encoder", "draw_off"  # invisible page helpers of the panel
    DRAWING, DRAW_PROBLEM = "drawing", "draw_problem"  # the user's 28x28 and the last input refused
    UPLOADS, UPLOAD_SEEN = "uploads", "upload_seen"  # uploads taken so far; the file id last taken
    TRAVERSE, TRAVERSE_BASE, TRAVERSE_SPAN, TRAVERSE_N = "traverse", "traverse_base", "traverse_span", "traverse_n"
    LAST_TRAVERSE_PICK, DECODER_LOADER = "last_traverse_pick", "decoder_loader"  # the last cell taken; invisible helper
    LAYER = "layer"  # the map's analysis layer (none, holes, magnification)
    NEAR, FULL_RERUN = "near", "full_rerun"  # the drawing's nearest test digits; a fragment asks for the whole page
    N_TEST = "n_test"  # how many test digits the checkpoint's snapshot holds
    TRAIN_VIEW, TRAIN_WATCH, TRAIN_SEQ = "train_view", "train_watch", "train_seq"  # the Train view's picture;
    TRAIN_STARTED = "train_started"  # the history watched; the control file's sequence; this session's last Start
    TRAIN_PICK = "train_pick"  # the Run picker's key, followed by a digest of its options


VIEWS = ("Explore", "Canvas", "Interpolate", "Traverse", "Train")  # the switcher's order; the first is the default

ss = st.session_state


def reset_for(view: Snapshot) -> None:
    """Start each checkpoint at the prior mean, with nothing selected."""
    if ss.get(Key.STATE_FOR) == view.ident:
        return
    ss.update({Key.STATE_FOR: view.ident, Key.Z: [0.0] * view.latent_dim, Key.Z_VERSION: 0, Key.SELECTED: None,
               Key.A: 0, Key.B: 1, Key.AB_CHOSEN: [], Key.END_POINTS: {}, Key.RANGES: slider_ranges(view.mu).tolist(),
               Key.N_TEST: len(view.mu)})
    if view.latent_dim > 2:  # the pad, the two-dims plane and the canvas start on the dims carrying the most KL
        i, j = view.pad_dims
        ss.update({Key.DIM_I: i, Key.DIM_J: j, Key.CANVAS_I: i, Key.CANVAS_J: j})
    # the user's own digit (Key.DRAWING) is kept: another model places the same drawing
    ss.pop(Key.Z_PUSHED, None)  # the live widget's last pushed point belonged to the old model


def z() -> list[float]:
    return ss[Key.Z]


def ranges() -> list[list[float]]:
    return ss[Key.RANGES]


def set_z(point, *, from_browser: bool = False) -> None:
    """Make `point` the decoder's z: clipped into the slider ranges (and, unless the page sent it,
    pushed to the page's panel).

    A point of the wrong length or with NaN/inf is dropped: it comes from a widget of the model the
    session just switched away from (a callback racing the switch) or from a client that is not ours.
    """
    lo, hi = np.asarray(ss[Key.RANGES]).T
    try:
        point = np.asarray(point, np.float64)
    except (TypeError, ValueError):
        return
    if point.shape != lo.shape or not np.all(np.isfinite(point)):
        log.info("dropped a latent point of shape %s for a %d-D model", point.shape, len(lo))
        return
    ss[Key.Z] = [round(float(v), 3) for v in np.clip(point, lo, hi)]
    if not from_browser:
        ss[Key.Z_VERSION] += 1  # tells the live widget to take the new point


def pushed_point() -> tuple[int, tuple]:
    """(version, z) as last pushed to the page: a new one only when Python moved z since."""
    if ss.get(Key.Z_PUSHED, (None,))[0] != ss[Key.Z_VERSION]:
        ss[Key.Z_PUSHED] = (ss[Key.Z_VERSION], tuple(ss[Key.Z]))
    return ss[Key.Z_PUSHED]


def live_commit() -> object:
    """What the in-page decoder last committed (its component state's "z"), unchecked."""
    return (ss.get(Key.LIVE) or {}).get("z")


def selected() -> int | None:
    return ss[Key.SELECTED]


def map_event():
    """The map chart's selection state as Streamlit last reported it (None before any)."""
    return ss.get(Key.MAP)


def take_pick(picked: int | None) -> None:
    """A map selection as Streamlit reports it on every run: a change is a new click."""
    if picked != ss.get(Key.LAST_PICK):
        ss[Key.LAST_PICK] = picked
        if picked is not None:
            ss[Key.SELECTED] = picked


def take_preview_click() -> None:
    """A click on the map's preview (map_preview.js), state "click": {index, at}; a new `at` is a new
    click. An index that is not a test digit of this checkpoint (a page that is not ours) is dropped."""
    click = (ss.get(Key.MAP_PREVIEW) or {}).get("click")
    if not isinstance(click, dict) or click.get("at") == ss.get(Key.LAST_PREVIEW_CLICK):
        return
    ss[Key.LAST_PREVIEW_CLICK] = click.get("at")
    index = click.get("index")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < ss[Key.N_TEST]:
        ss[Key.SELECTED] = index
    else:
        log.info("dropped a map preview click on %r", index)


def select(index: int) -> None:
    ss[Key.SELECTED] = index


def ends() -> tuple[int, int]:
    """The interpolation ends as test indices (an end set to the user's digit keeps its last index)."""
    return ss[Key.A], ss[Key.B]


def end_points(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interpolation ends in latent space: a test digit's mean, or the user's own digit's."""
    own = ss.get(Key.END_POINTS, {})
    return tuple(np.asarray(own[end], np.float64) if own.get(end) is not None else mu[i]
                 for end, i in zip("AB", ends()))


def own_ends() -> set[str]:
    """The ends set to the user's own digit rather than a test index."""
    return {end for end, z in ss.get(Key.END_POINTS, {}).items() if z is not None}


def chosen_ends() -> list[str]:
    return list(ss.get(Key.AB_CHOSEN, []))


def choose(end: str, index: int | None = None, point=None) -> None:
    """The user picked interpolation end `end` ("A" or "B"): a test index (None: the widget already
    set it) or, with `point`, the latent mean of their own digit."""
    ss.setdefault(Key.END_POINTS, {})[end] = None if point is None else [float(v) for v in point]
    if index is not None:
        ss[end] = index
    chosen = ss.setdefault(Key.AB_CHOSEN, [])
    if end not in chosen:
        chosen.append(end)


def ab_chosen() -> bool:
    """Both ends chosen by the user: only then is the A-B path drawn on the map."""
    return len(ss.get(Key.AB_CHOSEN, [])) == 2


def interp_steps() -> int:
    return ss.get(Key.INTERP_K, 8)


def hover_state() -> dict:
    return ss.get(Key.MAP_HOVER) or {}


def drawing() -> dict | None:
    """The user's own digit: {"pixels": 784 bytes (28x28 uint8), "source": "drawn" | "upload", "v": n}."""
    return ss.get(Key.DRAWING)


def set_drawing(pixels: bytes | None, source: str) -> None:
    """A new drawing or upload (None: cleared). Uploads are counted (`v`), so the page takes each once."""
    if source == "upload":
        ss[Key.UPLOADS] = ss.get(Key.UPLOADS, 0) + 1
    ss[Key.DRAWING] = None if pixels is None else {"pixels": bytes(pixels), "source": source,
                                                   "v": ss.get(Key.UPLOADS, 0)}
    ss[Key.DRAW_PROBLEM] = None


def draw_problem() -> str | None:
    return ss.get(Key.DRAW_PROBLEM)


def refuse_drawing(problem: str) -> None:
    """An input that held no digit: one line in the panel; the last good drawing stays."""
    ss[Key.DRAW_PROBLEM] = problem


def draw_commit() -> object:
    """What the drawing canvas last sent (its component state's "drawn"), unchecked."""
    return (ss.get(Key.DRAW) or {}).get("drawn")


def traverse_state() -> dict:
    """What the Traverse grid last sent: {pick: {z, at}, want: model}, unchecked."""
    return ss.get(Key.TRAVERSE) or {}


def take_traverse_pick() -> bool:
    """A clicked traversal cell ({z, at}; a new `at` is a new click) becomes the decoder's z. False
    when it is not news."""
    pick = traverse_state().get("pick")
    if not isinstance(pick, dict) or pick.get("at") == ss.get(Key.LAST_TRAVERSE_PICK):
        return False
    ss[Key.LAST_TRAVERSE_PICK] = pick.get("at")
    set_z(pick.get("z"))  # checked there: of this model's size, finite, inside the slider ranges
    return True


def near_pick() -> object:
    """What the nearest-digits strip last sent (its component state's "pick"), unchecked."""
    return (ss.get(Key.NEAR) or {}).get("pick")


def n_test() -> int:
    """How many test digits the current checkpoint has (a picked index must be below this)."""
    return int(ss.get(Key.N_TEST, 0))


def want_full_rerun() -> None:
    """A callback in a fragment changed what is drawn outside it: the fragment then reruns the page."""
    ss[Key.FULL_RERUN] = True


def take_full_rerun() -> bool:
    return bool(ss.pop(Key.FULL_RERUN, False))


def new_upload():
    """The uploader's file (Streamlit's UploadedFile) when it is one not taken yet, else None."""
    f = ss.get(Key.UPLOAD)
    if f is None or ss.get(Key.UPLOAD_SEEN) == f.file_id:
        return None
    ss[Key.UPLOAD_SEEN] = f.file_id
    return f


def get(key: str, default=None):
    """A widget's current value by its Key (for the link, which mirrors widgets into the URL)."""
    return ss.get(key, default)


def put(key: str, value) -> None:
    """Set a widget's value by its Key before the widget is drawn (a link being applied)."""
    ss[key] = value
