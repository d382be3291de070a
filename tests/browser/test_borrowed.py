"""What the page borrows from Streamlit and Plotly without a public API (explorer/borrowed.js): checked
where it is used, and a missing piece turns its feature off with a visible note, not silence."""
import json

import pytest

from explorer.panels import latent_map
from testkit.browser import chromium

# JS: mount a map helper's module (its Python module's JS) in a blank page beside a fake chart
MOUNT_JS = """async ([source, data, chart, patience]) => {
  (window.__vae ||= {}).borrowedPatienceMs = patience;
  const errors = [], log = console.error;
  console.error = (...a) => { errors.push(a.join(' ')); log(...a); };
  const holder = document.createElement('div');
  holder.className = chart.keyed ? 'st-key-map' : 'somewhere-else';
  const gd = document.createElement('div');
  gd.className = 'js-plotly-plot';
  if (chart.fullLayout) { gd._fullLayout = {}; gd._fullData = []; gd.layout = {}; }
  if (chart.on) gd.on = () => {};
  if (chart.plotly) window.Plotly = { relayout: () => {} };
  holder.appendChild(gd);
  document.body.appendChild(holder);
  const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
  const mount = (await import(url)).default;
  mount({data: new TextEncoder().encode(data), setStateValue: () => {}, parentElement: document.body});
  await new Promise((done) => setTimeout(done, patience + 400));
  console.error = log;
  const note = document.querySelector('[data-testid="vae-borrowed-note"]');
  return {note: note ? note.textContent : null, errors, ok: [...window.__vae?.borrowed.ok]};
}"""

OVERLAYS = latent_map.OVERLAYS_JS, json.dumps({"v": 1, "map_key": "map", "overlays": {}})
HOVER = latent_map.HOVER_JS, "WANT" + json.dumps({"v": 1, "dataset": "mnist", "cols": 100, "map_key": "map"})


@pytest.mark.parametrize("helper, feature", [(OVERLAYS, "Map overlays"), (HOVER, "Hover thumbnails")])
@pytest.mark.parametrize("chart, words", [
    ({"keyed": True, "fullLayout": False, "on": False, "plotly": True}, "the chart's graph div"),
    ({"keyed": True, "fullLayout": True, "on": True, "plotly": False}, "window.Plotly.relayout"),
    ({"keyed": False, "fullLayout": True, "on": True, "plotly": True}, "the st-key-<key> class"),
])
def test_a_missing_detail_turns_its_feature_off_visibly(helper, feature, chart, words):
    source, data = helper
    with chromium() as page:
        page.goto("about:blank")
        out = page.evaluate(MOUNT_JS, [source, data, chart, 300])
    assert out["note"] and f"{feature} is off" in out["note"] and words in out["note"], out
    assert any(words in e for e in out["errors"]), out
    assert feature not in out["ok"]


@pytest.mark.parametrize("helper, feature", [(OVERLAYS, "Map overlays"), (HOVER, "Hover thumbnails")])
def test_with_everything_there_the_feature_is_on_and_nothing_is_said(helper, feature):
    source, data = helper
    with chromium() as page:
        page.goto("about:blank")
        out = page.evaluate(MOUNT_JS, [source, data,
                                       {"keyed": True, "fullLayout": True, "on": True, "plotly": True}, 300])
    assert out["note"] is None and not out["errors"] and feature in out["ok"], out


def test_hover_asks_for_its_atlas_only_once_the_map_is_drawn():
    # the ask reruns the script and brings 1.9 MB: on a cold start it must not compete with plotly.js
    source, data = HOVER
    with chromium() as page:
        page.goto("about:blank")
        asked = page.evaluate("""async ([source, data]) => {
          window.__asked = [];
          const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
          const mount = (await import(url)).default;
          mount({data: new TextEncoder().encode(data), setStateValue: (k, v) => window.__asked.push([k, v]),
                 parentElement: document.body});
          await new Promise((done) => setTimeout(done, 1500));
          return window.__asked.length;
        }""", [source, data])
        assert asked == 0  # no chart yet, the page long idle: nothing asked
        page.evaluate("""() => {
          const holder = document.createElement('div');
          holder.className = 'st-key-map';
          const gd = document.createElement('div');
          gd.className = 'js-plotly-plot';
          Object.assign(gd, {_fullLayout: {}, _fullData: [], layout: {}, on: () => {}});
          window.Plotly = {relayout: () => {}};
          holder.appendChild(gd);
          document.body.appendChild(holder);
        }""")
        page.wait_for_function("window.__asked.length > 0", timeout=5000)
        assert page.evaluate("window.__asked") == [["want", "mnist"]]
