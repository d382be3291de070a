// The latent map drawn from its points while plotly.js (a 4.7 MB module that takes a second or more
// to load and compile on a cold start) is not in the page yet: a person sees the map at once and can
// already hover a point (its class and test index, as the chart's label) and click it (the digit and
// its reconstructions open below, as a click on the chart does); zoom and pan come with the chart.
// It steps aside as soon as a Plotly chart is drawn, and draws nothing once plotly.js is loaded
// (later charts draw at once).

import { chartByKey } from "./borrowed.js";
import { el, refuse } from "./dom.js";
import { vae } from "./shared.js";

const VERSION = 2;
const REACH = 4; // css px beyond a dot's edge that still hover or click it
// the point clicked last and the message it was clicked in: its ring survives this element being
// drawn again on a rerun, and is not drawn on another checkpoint's map
let picked = -1, pickedIn = null;

// data: a JSON header {v, map_key, n, height, x_range, y_range, colors, classes, size, opacity,
// margin: {l, r, t, b}}, a newline, then n float32 (x, y) pairs, little-endian, and n uint8 class
// labels. Point i is test digit i.
function read(bytes) {
  const end = bytes.indexOf(10);
  if (end < 0) throw new Error("map preview: no header");
  const text = new TextDecoder().decode(bytes.subarray(0, end));
  const h = { ...JSON.parse(text), text };
  if (h.v !== VERSION) throw new Error(`map preview: message version ${h.v}, this page reads ${VERSION}`);
  const body = bytes.slice(end + 1); // a copy: a Float32Array needs a 4-byte aligned start
  if (!(h.n >= 0) || body.length !== 9 * h.n) throw new Error(`map preview: ${body.length} bytes for ${h.n} points`);
  return { h, xy: new Float32Array(body.buffer, 0, 2 * h.n), labels: body.subarray(8 * h.n) };
}

// the page's gap between elements: the chart, which follows this element, is drawn that far lower
function gapBelow(node) {
  for (let n = node.getRootNode().host || node; n && n !== document.body; n = n.parentElement) {
    const style = getComputedStyle(n);
    if (style.display === "flex" && style.flexDirection === "column") return parseFloat(style.rowGap) || 0;
  }
  return 0;
}

// where the points go in the canvas: the chart's ranges, one scale for both axes (the chart's
// scaleanchor), centred in the plot area the chart leaves inside its margins, axis labels and legend
function placing(w, h, shift) {
  const [x0, x1] = h.x_range, [y0, y1] = h.y_range, m = h.margin;
  const pw = w - m.l - m.r, ph = h.height - m.t - m.b; // the chart's plot area, inside its axes and legend
  const s = Math.min(pw / (x1 - x0), ph / (y1 - y0));
  const ox = m.l + (pw - s * (x1 - x0)) / 2, oy = shift + m.t + (ph - s * (y1 - y0)) / 2;
  return { ox: ox - x0 * s, oy: oy + y1 * s, s }; // point (x, y) -> canvas (ox + s x, oy - s y)
}

// css pixels in the canvas of point i
function spot(at, xy, i) {
  return [at.ox + at.s * xy[2 * i], at.oy - at.s * xy[2 * i + 1]];
}

// one dot of `colour`, r css px across, drawn once and stamped for each point of its class
function dot(colour, r, dpr) {
  const c = document.createElement("canvas");
  c.width = c.height = Math.ceil(2 * r * dpr) + 2;
  const g = c.getContext("2d");
  g.fillStyle = colour;
  g.beginPath();
  g.arc(c.width / 2, c.width / 2, r * dpr, 0, 2 * Math.PI);
  g.fill();
  return c;
}

// the points, round as the chart's, and a ring round the one clicked. As the chart, class by class
// (one trace each) and each dot on its own: where dots overlap their opacity adds up, so a dense
// cluster is as deep in colour as in the chart (one filled path per colour covered it only once)
function draw(canvas, { h, xy, labels }, at) {
  const w = canvas.clientWidth || 600, dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h.height * dpr);
  const g = canvas.getContext("2d");
  const r = h.size / 2;
  const k = h.colors.length; // class c has colour c mod k, as in the chart
  const dots = h.colors.map((colour) => dot(colour, r, dpr)), half = dots[0].width / 2;
  const classes = labels.reduce((a, b) => Math.max(a, b), 0) + 1, ox = at.ox * dpr - half, oy = at.oy * dpr - half, s = at.s * dpr;
  g.globalAlpha = h.opacity;
  for (let c = 0; c < classes; c++) {
    const stamp = dots[c % k];
    for (let i = 0; i < h.n; i++) {
      if (labels[i] === c) g.drawImage(stamp, Math.round(ox + s * xy[2 * i]), Math.round(oy - s * xy[2 * i + 1])); // whole pixels: crisp
    }
  }
  g.scale(dpr, dpr);
  if (picked >= 0 && pickedIn === h.text) {
    const [px, py] = spot(at, xy, picked);
    g.globalAlpha = 1;
    g.lineWidth = 2;
    g.strokeStyle = "#111";
    g.beginPath();
    g.arc(px, py, r + 4, 0, 2 * Math.PI);
    g.stroke();
  }
}

// the point under css pixel (x, y) of the canvas, the nearest within reach; -1 for none
function pointAt({ h, xy }, at, x, y) {
  const reach = h.size / 2 + REACH;
  let best = -1, bestD = reach * reach;
  for (let i = 0; i < h.n; i++) { // on every pointer move: no allocation per point
    const d = (at.ox + at.s * xy[2 * i] - x) ** 2 + (at.oy - at.s * xy[2 * i + 1] - y) ** 2;
    if (d < bestD) { best = i; bestD = d; }
  }
  return best;
}

export default function ({ data, parentElement, setStateValue }) {
  if (!data) return;
  parentElement.querySelectorAll(".vae-preview").forEach((n) => n.remove());
  let msg;
  try {
    msg = read(data);
  } catch (err) {
    return refuse(parentElement, "vae-preview", "map-preview-error", err.message);
  }
  // a Plotly chart already drawn: ours, or (its key class gone) any other, so this never lingers
  const charted = () => chartByKey(msg.h.map_key) || document.querySelector(".js-plotly-plot");
  if (window.Plotly || charted()) return;
  const root = el("div", { class: "vae-preview", "data-testid": "map-preview", style: `height: ${msg.h.height}px` },
    parentElement);
  const canvas = el("canvas", { style: "display: block; width: 100%; height: 100%" }, root);
  el("div", { class: "note", text: "Click a point to open it · zoom and pan are loading…" }, root);
  const tip = el("div", { class: "tip", "data-testid": "map-preview-tip" }, root);
  const at = placing(canvas.clientWidth || 600, msg.h, gapBelow(parentElement));
  draw(canvas, msg, at);
  const { h, labels } = msg;
  let hovered = -1; // what the label names is what a click opens
  canvas.addEventListener("pointermove", (e) => {
    const i = (hovered = pointAt(msg, at, e.offsetX, e.offsetY));
    canvas.style.cursor = i < 0 ? "default" : "pointer";
    tip.style.display = i < 0 ? "none" : "block";
    if (i < 0) return;
    tip.textContent = `${h.classes[labels[i]] ?? labels[i]} · test #${i}`; // the chart's hover label
    tip.style.borderColor = h.colors[labels[i] % h.colors.length];
    tip.style.left = `${e.offsetX + 12}px`;
    tip.style.top = `${e.offsetY - 28}px`;
  });
  canvas.addEventListener("pointerleave", () => { hovered = -1; tip.style.display = "none"; });
  canvas.addEventListener("click", (e) => {
    const i = hovered >= 0 ? hovered : pointAt(msg, at, e.offsetX, e.offsetY); // a tap has no hover
    if (i < 0) return;
    picked = i;
    pickedIn = h.text;
    draw(canvas, msg, at);
    setStateValue("click", { index: i, at: Date.now() }); // a new `at` is a new click (latent_map.take_click)
  });
  const seen = (vae.mapPreview = {
    drawnAt: performance.now(), points: h.n, hiddenAt: null,
    // page pixels of point i, for tests and bench/startup.py
    place: (i) => { const b = canvas.getBoundingClientRect(), [x, y] = spot(at, msg.xy, i); return [b.left + x, b.top + y]; },
  });
  let raf = 0;
  const watch = () => { // each frame until the chart is drawn; stops when this element is gone
    raf = 0;
    if (!root.isConnected) return;
    if (charted()) {
      root.remove();
      seen.hiddenAt = performance.now();
      return;
    }
    raf = requestAnimationFrame(watch);
  };
  raf = requestAnimationFrame(watch);
  return () => { if (raf) cancelAnimationFrame(raf); };
}
