"""The Train view in a real browser: a run started from the page, watched live, stopped, resumed and
found in the picker; a read-only viewer; the replay of a recorded history at a chosen frame."""
import shutil
import time

import numpy as np
import pytest

from explorer.backend import picker
from testkit import ROOT, SHIPPED
from testkit.browser import CHROMIUM, chromium, serve, wait_idle
from vae_core import history

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)"),
    pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped checkpoint"),
]
STATE = "(el) => el.closest('.vae-train').vaeTrain"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    (home / "checkpoints").mkdir()
    shutil.copy(SHIPPED, home / "checkpoints" / "z2.pt")
    shipped_history = history.path_for(SHIPPED)
    if shipped_history.is_file():
        shutil.copy(shipped_history, home / "checkpoints" / "z2.history")
    (home / "data").symlink_to(ROOT / "data")
    return home


@pytest.fixture(scope="module")
def app_url(home):
    with serve(env={picker.HOME_ENV: str(home), "VAE_EXPLORER_CACHE": str(home / "cache")}) as url:
        yield url


def open_train(page, url: str) -> None:
    page.goto(url + "/?tab=train")
    page.get_by_text("VAE latent-space explorer").wait_for(timeout=120_000)
    wait_idle(page, timeout_ms=180_000)


def choose(page, label: str, option: str) -> None:
    """Pick a selectbox's option; a click while the expander above it opens may not open its list: again."""
    for _ in range(3):
        page.get_by_label(label).click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
            return
        except Exception:  # noqa: BLE001  the list did not open
            page.keyboard.press("Escape")
    raise AssertionError(f"{label}: the option {option!r} never showed")


def frames(page) -> int:
    return page.get_by_test_id("train-map").evaluate(f"(el) => ({STATE})(el).frames()")


def drawn(page) -> np.ndarray:
    return np.asarray(page.get_by_test_id("train-map").evaluate(f"(el) => Array.from(({STATE})(el).drawn().px)"))


def test_a_run_started_in_the_page_is_watched_live_stopped_resumed_and_opened(app_url, home):
    with chromium() as page:
        open_train(page, app_url)
        page.get_by_text("New run").wait_for(timeout=60_000)
        if not page.get_by_label("Run name").is_visible():  # open when there is no run yet
            page.get_by_text("New run").click()
        choose(page, "Layer widths", "64")
        page.get_by_label("Epochs").fill("3")
        page.get_by_label("Batch size").fill("1000")
        page.get_by_label("Run name").fill("t1")
        page.get_by_role("button", name="Start").click()
        page.get_by_text("is training").wait_for(timeout=60_000)
        seen = []
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            n = frames(page)
            if n and (not seen or n > seen[-1][0]):
                time.sleep(0.3)  # the glide to the newest frame
                seen.append((n, drawn(page)))
            time.sleep(0.1)
        assert len(seen) >= 3, f"frames seen: {[s[0] for s in seen]}"
        assert all(np.abs(a[1] - b[1]).max() > 0.5 for a, b in zip(seen, seen[1:])), "the points did not move"
        page.get_by_role("button", name="Stop").click()
        page.get_by_text("was stopped after").wait_for(timeout=60_000)
        stopped_at = history.read(home / "runs" / "t1" / "model.history").stop.meta["step"]
        wait_idle(page, timeout_ms=60_000)
        assert page.get_by_label("Run", exact=True).input_value().startswith("t1")  # the picker shows what is watched
        page.get_by_role("button", name="Resume").click()  # once: it lands on t1 (the picker once slipped to z2)
        page.get_by_text("finished (3 epochs)").wait_for(timeout=180_000)
        h = history.read(home / "runs" / "t1" / "model.history")
        assert h.finished and len(h.epochs) == 3 and stopped_at < h.stop.meta["step"] == 180
        steps = [f.meta["step"] for f in h.frames]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)  # resumed after the stop, nothing twice
        page.get_by_role("button", name="Open in Explore").click()
        page.wait_for_function("() => [...document.querySelectorAll('input[aria-label=\"Checkpoint\"]')]"
                               ".some((el) => el.value === 'runs/t1/model.pt')", timeout=60_000)
        page.get_by_text("hidden [64]").wait_for(timeout=60_000)  # its model card: the run's model is open


def test_a_viewer_not_on_the_server_sees_runs_read_only(app_url, home):
    with chromium() as page:
        page.set_extra_http_headers({"X-Forwarded-For": "203.0.113.9"})
        open_train(page, app_url)
        page.get_by_text("you watch runs here read-only").wait_for(timeout=60_000)
        assert page.get_by_text("New run").count() == 0
        assert page.get_by_role("button", name="Start").count() == 0
        assert page.get_by_role("button", name="Resume").count() == 0


def test_the_replay_puts_the_points_where_the_stored_frame_has_them(app_url, home):
    if not (home / "checkpoints" / "z2.history").is_file():
        pytest.skip("the shipped model has no history")
    h = history.read(home / "checkpoints" / "z2.history")
    with chromium() as page:
        open_train(page, app_url)
        page.get_by_test_id("train-map").wait_for(timeout=60_000)
        deadline = time.monotonic() + 60
        while frames(page) < len(h.frames) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert frames(page) == len(h.frames)
        k = len(h.frames) // 3
        page.get_by_test_id("train-scrub").evaluate(
            f"(el) => {{ el.value = '{k}'; el.dispatchEvent(new Event('input')); }}")
        time.sleep(0.3)
        px = drawn(page).reshape(-1, 2)
        state = page.get_by_test_id("train-map").evaluate(f"(el) => {{ const d = ({STATE})(el).drawn(); "
                                                         "return {half: d.half, s: d.s}; }")
        xy = h.frames[k].arrays["xy"].astype(np.float64)
        extent = 1.15 * np.sort(np.abs(xy).ravel())[int(0.99 * (xy.size - 1))]  # train_view.js: extentOf
        assert state["s"] == pytest.approx((state["half"] - 8) / extent, rel=1e-4)
        want = np.stack([state["half"] + xy[:, 0] * state["s"], state["half"] - xy[:, 1] * state["s"]], 1)
        assert np.abs(px - want).max() < 1.0
        assert page.get_by_test_id("train-status").get_attribute("data-step") == str(h.frames[k].meta["step"])
