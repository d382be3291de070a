// A still picture of the latent map, drawn from its points while plotly.js (a 4.7 MB module that
// takes a second or more to load and compile on a cold start) is not in the page yet: a person sees
// the map at once, with a note that the interactive one is on its way. It steps aside as soon as a
// Plotly chart is drawn, and draws nothing once plotly.js is loaded (later charts draw at once).

// dom.js (el, refuse) and borrowed.js (chartByKey) precede this file.
const VERSION = 1;

// data: a JSON header {v, map_key, n, height, x_range, y_range, colors, size, opacity, margin: {l, r, t, b}}, a
// newline, then n float32 (x, y) pairs, little-endian, and n uint8 class labels
function read(bytes) {
  const end = bytes.indexOf(10);
  if (end < 0) throw new Error("map preview: no header");
  const h = JSON.parse(new TextDecoder().decode(bytes.subarray(0, end)));
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

// the points at the chart's ranges, one scale for both axes (the chart's scaleanchor), centred in
// the plot area the chart leaves inside its margins, axis labels and legend; round, as the chart's
function draw(canvas, { h, xy, labels }, shift) {
  const w = canvas.clientWidth || 600, ht = h.height, dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(ht * dpr);
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  const [x0, x1] = h.x_range, [y0, y1] = h.y_range, m = h.margin;
  const pw = w - m.l - m.r, ph = ht - m.t - m.b; // the chart's plot area, inside its axes and legend
  const s = Math.min(pw / (x1 - x0), ph / (y1 - y0));
  const ox = m.l + (pw - s * (x1 - x0)) / 2, oy = shift + m.t + (ph - s * (y1 - y0)) / 2, r = h.size / 2;
  g.globalAlpha = h.opacity;
  const k = h.colors.length; // class c has colour c mod k, as in the chart
  for (let c = 0; c < k; c++) { // one path per colour: k fills, not n
    g.fillStyle = h.colors[c];
    g.beginPath();
    for (let i = 0; i < h.n; i++) {
      if (labels[i] % k !== c) continue;
      const px = ox + (xy[2 * i] - x0) * s, py = oy + (y1 - xy[2 * i + 1]) * s;
      g.moveTo(px + r, py);
      g.arc(px, py, r, 0, 2 * Math.PI);
    }
    g.fill();
  }
}

export default function ({ data, parentElement }) {
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
  el("div", { class: "note", text: "Loading the interactive map…" }, root);
  draw(canvas, msg, gapBelow(parentElement));
  const seen = (window.__vaeMapPreview = { drawnAt: performance.now(), points: msg.h.n, hiddenAt: null });
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
