// Draws the latent map's overlays (decoder point, selected digit's ring and ±2σ ellipse, A-B paths,
// and the user's own digit with its ±2σ ellipse while they draw it: vae.drawn, from draw.js) as
// layout shapes with Plotly.relayout: that redraws only the shapes (~10 ms), never the 10k WebGL points,
// and leaves the chart's spec, zoom, pan and selection alone on reruns.
import { borrowed, chartByKey, withChart } from "./borrowed.js";
import { onPosted } from "./posts.js";
import { vae, DRAWN } from "./shared.js";

const VERSION = 1;
const FEATURE = "Map overlays";
const LAYER = "vae-layer"; // the name of the analysis layer's image among the chart's layout.images

const NONE = "rgba(0,0,0,0)";
// what this file keeps on each chart it drew on: {key: the shapes drawn, seq: per overlay, the newest
// message's seq taken, overlays: as drawn, synced: redrawn after each plotly_afterplot}
const charts = new WeakMap();
const held = (gd) => charts.get(gd) || charts.set(gd, { key: null, seq: {}, overlays: {}, synced: false }).get(gd);

function polyline(pts, line) {
  if (!pts || pts.x.length < 2) return [];
  const d = "M" + pts.x.map((x, i) => `${x},${pts.y[i]}`).join("L");
  return [{ type: "path", xref: "x", yref: "y", path: d, line, fillcolor: NONE }];
}

// a shape of fixed size in pixels around a data point (stays the same size when zooming)
function marker(x, y, shape, line, fillcolor = NONE) {
  const at = { xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel", xanchor: x, yanchor: y, line, fillcolor };
  return shape.r ? { ...at, type: "circle", x0: -shape.r, x1: shape.r, y0: -shape.r, y1: shape.r }
    : { ...at, type: "path", path: shape.path };
}

function shapesFor(o) {
  const shapes = [];
  shapes.push(...polyline(o.ellipse, { color: "black", width: 1.5, dash: "dot" }));
  shapes.push(...polyline(o.path, { color: "#333", width: 2 }));
  shapes.push(...polyline(o.slerp, { color: "#333", width: 2, dash: "dash" }));
  for (const p of [o.slerp, o.path]) {
    (p ? p.x : []).forEach((x, i) => {
      const dot = marker(x, p.y[i], { r: 3 }, { width: 0 }, "#333");
      const text = p.text && p.text[i];
      if (text) { // "A", "B": shape labels (annotations would make plotly redraw every point)
        Object.assign(dot, { x0: -5, x1: 5, y0: -5, y1: 5 });
        dot.label = { text: `<b>${text}</b>`, textposition: "bottom center", padding: 14, font: { size: 15, color: "#111" } };
      }
      shapes.push(dot);
    });
  }
  if (o.selected && o.selected.x.length) {
    shapes.push(marker(o.selected.x[0], o.selected.y[0], { r: 9 }, { color: "black", width: 2.5 }));
  }
  const drawn = vae.drawn && vae.drawn.map; // the user's own digit (draw.js), moved in the page
  if (drawn) {
    shapes.push(...polyline(drawn.ellipse, { color: "#d6336c", width: 2, dash: "dot" }));
    const diamond = { path: "M0,-10L10,0L0,10L-10,0Z" };
    const mark = marker(drawn.x, drawn.y, diamond, { color: "white", width: 2 }, "#d6336c");
    mark.label = { text: "<b>you</b>", textposition: "top center", padding: 12, font: { size: 13, color: "#d6336c" } };
    shapes.push(mark);
  }
  if (o.decoder && o.decoder.x.length) {
    const cross = { path: "M-7,-7L7,7M-7,7L7,-7" };
    shapes.push(marker(o.decoder.x[0], o.decoder.y[0], cross, { color: "white", width: 6 }));
    shapes.push(marker(o.decoder.x[0], o.decoder.y[0], cross, { color: "black", width: 3 }));
  }
  return shapes;
}

// the analysis layer (layers.py: image_spec), under the points, beside the figure's own images
function imagesFor(gd, layer) {
  const own = (gd.layout.images || []).filter((im) => im.name !== LAYER);
  if (!layer || !layer.source) return own;
  return [...own, { ...layer, name: LAYER, xref: "x", yref: "y", sizing: "stretch", layer: "below", opacity: 1 }];
}

function apply(gd, overlays) {
  if (!window.Plotly || !gd || !gd._fullLayout) return false;
  const shapes = shapesFor(overlays), layer = overlays.layer;
  const source = layer && layer.source ? layer.source : "";
  const key = JSON.stringify(shapes) + "|" + source.length + source.slice(-64) + JSON.stringify({ ...layer, source: 0 });
  const mine = held(gd);
  const hasLayer = (gd.layout.images || []).some((im) => im.name === LAYER);
  // gone if the chart was redrawn from its spec
  const drawn = (gd.layout.shapes || []).length === shapes.length && hasLayer === Boolean(source);
  if (key !== mine.key || !drawn) {
    mine.key = key;
    // whole-array replaces: redraw just the shapes and the images, never the points
    window.Plotly.relayout(gd, { shapes, images: imagesFor(gd, layer) });
  }
  return true;
}

// the user's digit moves while they draw: redraw the shapes at most once per animation frame
let drawnRaf = 0, lastKey = null;
window.addEventListener(DRAWN, () => {
  if (drawnRaf || lastKey === null) return;
  drawnRaf = requestAnimationFrame(() => {
    drawnRaf = 0;
    const gd = chartByKey(lastKey);
    if (gd && charts.has(gd) && borrowed.ok.has(FEATURE)) apply(gd, held(gd).overlays);
  });
});

// message: {v, map_key, overlays: {decoder?, selected?, ellipse?, path?, slerp?, layer?}} (map_overlays.py): the
// overlays named replace theirs. It comes as this element's data on the page's runs (all five), and as
// the "overlays" part of the decoder fragment's post (post.py; the decoder's point) when z moves: this
// element is not in that fragment, so it is not drawn again then.
export default function ({ data }) {
  let pending = [], waiting = null; // messages taken before the chart is there, merged in order then
  const take = (message) => {
    if (!message) return;
    if (message.v !== VERSION) {
      console.error(`map overlays: message version ${message.v}, this page reads ${VERSION}`);
      return;
    }
    lastKey = message.map_key;
    pending.push(message);
    if (waiting) waiting();
    waiting = withChart(message.map_key, FEATURE, (gd) => {
      const messages = pending;
      pending = [];
      // the overlays named replace theirs unless they hold a newer one (seq), the others stay;
      // re-applied if the chart is redrawn from its spec
      const mine = held(gd), now = { ...mine.overlays };
      for (const m of messages) {
        const seq = m.seq || 0;
        for (const [name, overlay] of Object.entries(m.overlays)) {
          if (seq >= (mine.seq[name] ?? -Infinity)) { now[name] = overlay; mine.seq[name] = seq; }
        }
      }
      mine.overlays = now;
      if (!mine.synced) {
        mine.synced = true;
        gd.on("plotly_afterplot", () => apply(gd, held(gd).overlays));
      }
      apply(gd, now);
    });
  };
  const abort = new AbortController();
  onPosted("overlays", take, abort.signal); // and the one posted before this mounted: taken only where newer
  if (data && data.length) take(JSON.parse(new TextDecoder().decode(data)));
  return () => { abort.abort(); if (waiting) waiting(); };
}
