"""The map's still preview (frontend/map_preview.js) in Chromium: drawn from the figure's own points while
plotly.js loads, where the chart puts them, hovered and clicked, and gone once the chart is drawn."""

import numpy as np
import pytest

import plots
from explorer.panels import latent_map
from testkit.browser import chromium
from testkit.synthetic import preview_parts
from vae_core.data import MNIST_CLASSES

# JS: mount map_preview.js in a blank page 600 px wide; return what it drew at the given css pixels
MOUNT_JS = """async ([source, data, plotlyFirst, at]) => {
  const errors = [], log = console.error;
  console.error = (...a) => { errors.push(a.join(' ')); log(...a); };
  if (plotlyFirst) window.Plotly = {};
  const holder = document.createElement('div');
  holder.style.width = '600px';
  document.body.appendChild(holder);
  const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
  const mount = (await import(url)).default;
  window.__sets = [];
  mount({data: new Uint8Array(data), setStateValue: (k, v) => window.__sets.push([k, v]), parentElement: holder});
  console.error = log;
  const canvas = holder.querySelector('[data-testid="map-preview"] canvas');
  const error = holder.querySelector('[data-testid="map-preview-error"]');
  const out = {errors, error: error && error.textContent, drawn: !!canvas, pixels: [], blank: null};
  if (canvas) {
    const g = canvas.getContext('2d'), dpr = canvas.width / canvas.clientWidth;
    out.pixels = at.map(([x, y]) => [...g.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data]);
    const all = g.getImageData(0, 0, canvas.width, canvas.height).data;
    out.inked = all.filter((v, i) => i % 4 === 3 && v > 0).length;
    out.note = holder.textContent;
  }
  return out;
}"""


def where(h: dict, xy: np.ndarray, width: float = 600) -> list[list[float]]:
    """CSS pixels of each point as the preview places them (the chart's ranges, one scale, centred)."""
    (x0, x1), (y0, y1), m = h["x_range"], h["y_range"], h["margin"]
    pw, ph = width - m["l"] - m["r"], h["height"] - m["t"] - m["b"]
    s = min(pw / (x1 - x0), ph / (y1 - y0))
    ox, oy = m["l"] + (pw - s * (x1 - x0)) / 2, m["t"] + (ph - s * (y1 - y0)) / 2
    return [[float(ox + (x - x0) * s), float(oy + (y1 - y) * s)] for x, y in xy]


def hex_rgb(colour: str) -> list[int]:
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]


def test_each_point_is_drawn_in_its_class_colour_where_the_chart_puts_it():
    xy = np.array([[-2, -2], [0, 1], [2, -1], [1, -2]], np.float32)
    labels = np.array([0, 3, 9, 12])  # a 13th class wraps round the palette, as in the chart
    classes = [str(c) for c in range(13)]
    message = latent_map.preview_message(xy, labels, classes, plots.latent_map(xy, labels, classes))
    h = preview_parts(message)[0]
    with chromium() as page:
        page.goto("about:blank")
        out = page.evaluate(MOUNT_JS, [latent_map.PREVIEW_JS, list(message), False,
                                       where(h, xy)])
    assert out["drawn"] and not out["errors"] and "zoom and pan are loading" in out["note"], out
    for pixel, label in zip(out["pixels"], labels):
        want = hex_rgb(plots.PALETTE[label % len(plots.PALETTE)])
        assert pixel[3] > 100 and max(abs(a - b) for a, b in zip(pixel[:3], want)) <= 2, (pixel, want)
    assert out["inked"] <= 4 * 4 * 4 * 1.5  # four dots 4 px across (edges anti-aliased), nothing else


@pytest.mark.parametrize("bad, words", [("version", "message version 3"), ("short", "bytes for 3 points")])
def test_a_message_it_cannot_read_is_refused_in_the_panel_and_the_console(bad, words):
    xy, labels = np.zeros((3, 2), np.float32), np.zeros(3, int)
    message = latent_map.preview_message(xy, labels, MNIST_CLASSES, plots.latent_map(xy, labels, MNIST_CLASSES))
    if bad == "version":
        message = message.replace(b'"v": 2', b'"v": 3', 1)
    else:
        message = message[:-5]
    with chromium() as page:
        page.goto("about:blank")
        out = page.evaluate(MOUNT_JS, [latent_map.PREVIEW_JS, list(message), False, []])
    assert not out["drawn"] and words in (out["error"] or "") and any(words in e for e in out["errors"]), out


def test_it_steps_aside_for_a_drawn_chart_and_draws_nothing_once_plotly_is_loaded():
    xy, labels = np.zeros((3, 2), np.float32), np.zeros(3, int)
    message = list(latent_map.preview_message(xy, labels, MNIST_CLASSES, plots.latent_map(xy, labels, MNIST_CLASSES)))
    source = latent_map.PREVIEW_JS
    with chromium() as page:
        page.goto("about:blank")
        assert page.evaluate(MOUNT_JS, [source, message, False, []])["drawn"]
        page.evaluate("""() => { const h = document.createElement('div'); h.className = 'st-key-map';
                                 h.innerHTML = '<div class="js-plotly-plot"></div>'; document.body.appendChild(h); }""")
        page.wait_for_function("window.__vae?.mapPreview.hiddenAt !== null", timeout=5000)
        assert page.locator('[data-testid="map-preview"]').count() == 0
        page.goto("about:blank")
        assert not page.evaluate(MOUNT_JS, [source, message, True, []])["drawn"]


def test_a_hovered_point_is_named_and_a_clicked_one_is_sent_and_ringed():
    xy = np.array([[-2, -2], [0, 1], [2, -1], [1, -2]], np.float32)
    labels = np.array([0, 3, 9, 3])
    message = latent_map.preview_message(xy, labels, MNIST_CLASSES, plots.latent_map(xy, labels, MNIST_CLASSES))
    spots = where(preview_parts(message)[0], xy)
    with chromium() as page:
        page.goto("about:blank")
        out = page.evaluate(MOUNT_JS, [latent_map.PREVIEW_JS, list(message),
                                       False, spots])
        assert out["drawn"], out
        box = page.locator('[data-testid="map-preview"] canvas').bounding_box()
        tip = page.get_by_test_id("map-preview-tip")
        for i in (3, 1):
            x, y = box["x"] + spots[i][0] + 2, box["y"] + spots[i][1] - 2  # near, not on, its centre
            page.mouse.move(x, y)
            assert tip.inner_text() == f"{MNIST_CLASSES[labels[i]]} · test #{i}"
        page.mouse.click(x, y)
        sets = page.evaluate("window.__sets")
        assert [(k, v["index"]) for k, v in sets] == [("click", 1)] and sets[0][1]["at"] > 0
        ring = page.evaluate("""([x, y]) => {  // dark pixels round point 1: its ring
          const c = document.querySelector('[data-testid="map-preview"] canvas'), g = c.getContext('2d');
          const d = g.getImageData(Math.round(x - 9), Math.round(y - 9), 18, 18).data;
          let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && d[i] < 60 && d[i + 1] < 60) n++;
          return n; }""", spots[1])
        assert ring > 20, ring
        page.mouse.move(box["x"] + 5, box["y"] + box["height"] - 5)  # no point there
        assert not tip.is_visible()
        page.mouse.click(box["x"] + 5, box["y"] + box["height"] - 5)
        assert len(page.evaluate("window.__sets")) == 1  # a click on no point sends nothing


def test_overlapping_dots_deepen_as_in_the_chart():
    """Plotly draws each dot on its own, so where dots of one class overlap their opacity adds up;
    a dense cluster in the preview is as deep in colour (one filled path per class was paler)."""
    xy = np.array([[0, 0], [0, 0], [0, 0], [2, 2]], np.float32)  # three dots on one spot, one alone
    labels = np.array([1, 1, 1, 1])
    message = latent_map.preview_message(xy, labels, MNIST_CLASSES, plots.latent_map(xy, labels, MNIST_CLASSES))
    with chromium() as page:
        page.goto("about:blank")
        out = page.evaluate(MOUNT_JS, [latent_map.PREVIEW_JS, list(message),
                                       False, where(preview_parts(message)[0], xy)[2:]])
    (*_, stacked), (*_, alone) = out["pixels"]
    opacity = plots.latent_map(xy, labels, MNIST_CLASSES).data[0].marker.opacity
    assert alone == pytest.approx(255 * opacity, abs=3)
    assert stacked == pytest.approx(255 * (1 - (1 - opacity) ** 3), abs=3), (stacked, alone)
