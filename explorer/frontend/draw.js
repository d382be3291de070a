// "Your digit": a drawing canvas and the model's encoder, both in the page.
// Data in: the draw message (VAED, explorer/panels/your_digit.py: message): the checkpoint, the map's
// projection, an upload Python prepared. The encoder itself arrives once per checkpoint through
// encoder.js (vae.encoders, ENCODER event), so this element's data stays small.
// While a stroke is drawn, one encode per animation frame: the model's 28x28, mu, sigma, the
// reconstruction from mu, and vae.drawn with a DRAWN event, which move the marker on the map and the pad.
// State out, only when a stroke ends (or on undo / clear): {drawn: {seq, pixels: base64 | null}}.
import { el, refuse } from "./dom.js";
import { decoderFor } from "./nn.js";
import { prepare } from "./prep.js";
import { vae, DECODER, DRAWN, ENCODER } from "./shared.js";

const MESSAGE_VERSION = 1;
const drawings = new Map(); // component key -> {strokes, base, seq, imageV}: survives re-renders and model switches
const SIDE = 280;

function encoderFor(model) {
  const encoders = vae.encoders || new Map();
  return encoders.get(model) || encoders.get("*") || null;
}

// mu, logvar for a 28x28 uint8 image
function encodeWith(enc, pixels) {
  const x = new Float32Array(784);
  for (let p = 0; p < 784; p++) x[p] = pixels[p] / 255;
  return enc.encode(x);
}

// for tests: prepare(rgba, w, h) -> 784 uint8
export function prepareWith(constants) {
  return (rgba, w, h) => Array.from(prepare(rgba, w, h, constants));
}

// the drawing's place on the map: xy = (mu - center) @ W and the 2-sigma ellipse of
// N(mu, diag(exp(logvar))) seen through W (as explorer/backend/projection.py: Projection.ellipse); exported for tests
export function onMap(proj, mu, logvar) {
  const D = mu.length, c = proj.center, W = proj.W; // W: [D][2]
  let x = 0, y = 0, a = 0, b = 0, d = 0;
  for (let k = 0; k < D; k++) {
    const v = Math.exp(logvar[k]), dx = mu[k] - c[k];
    x += dx * W[k][0]; y += dx * W[k][1];
    a += W[k][0] * W[k][0] * v; b += W[k][0] * W[k][1] * v; d += W[k][1] * W[k][1] * v;
  }
  const l11 = Math.sqrt(a), l21 = b / l11, l22 = Math.sqrt(Math.max(d - l21 * l21, 0)); // Cholesky
  const ex = [], ey = [];
  for (let n = 0; n <= 60; n++) {
    const t = (2 * Math.PI * n) / 60, u = 2 * Math.cos(t), w = 2 * Math.sin(t);
    ex.push(x + l11 * u); ey.push(y + l21 * u + l22 * w);
  }
  return { x, y, ellipse: { x: ex, y: ey } };
}

function setDrawn(detail) {
  vae.drawn = detail;
  window.dispatchEvent(new CustomEvent(DRAWN, { detail }));
}

function toBase64(bytes) {
  let s = "";
  for (const v of bytes) s += String.fromCharCode(v);
  return btoa(s);
}

export default function (component) {
  const { data, parentElement } = component;
  if (!data) return;
  parentElement.querySelectorAll(".vae-draw").forEach((n) => n.remove());
  let msg;
  try {
    if (String.fromCharCode(...data.subarray(0, 4)) !== "VAED") throw new Error("not a draw message");
    msg = JSON.parse(new TextDecoder().decode(data.subarray(4)));
    if (msg.v !== MESSAGE_VERSION) throw new Error(`draw message version ${msg.v}, this page reads ${MESSAGE_VERSION}`);
  } catch (err) {
    return refuseDraw(parentElement, `your digit: ${err.message}`);
  }
  const enc = encoderFor(msg.model);
  if (enc && enc.error) return refuseDraw(parentElement, enc.error);
  if (!enc) { // the encoder's element has not run yet: mount when it has
    const wait = el("div", { class: "vae-draw", text: "Loading the encoder…" }, parentElement);
    const ready = (ev) => {
      if (ev.detail !== msg.model && ev.detail !== null) return;
      window.removeEventListener(ENCODER, ready);
      wait.remove();
      cleanup = encoderFor(msg.model) && encoderFor(msg.model).error
        ? refuseDraw(parentElement, encoderFor(msg.model).error) : mount(component, encoderFor(msg.model), msg);
    };
    let cleanup = null;
    window.addEventListener(ENCODER, ready);
    return () => { window.removeEventListener(ENCODER, ready); if (cleanup) cleanup(); };
  }
  perfRecord().messageBytes = data.length;
  return mount(component, enc, msg);
}

// what the panel did, for tests and bench/your_digit.py (vae.draw)
function perfRecord() {
  return (vae.draw ||= { frames: 0, encodeMs: [], frameMs: [], commits: 0 });
}

function refuseDraw(parentElement, message) {
  return refuse(parentElement, "vae-draw", "draw-error", message);
}

// ---- a render of the panel, in steps: the elements, the ink canvas, encoding what is drawn,
// telling Python, and the listeners that drive them
function mount(component, enc, input) {
  const { key, parentElement, setStateValue } = component;
  if (!drawings.has(key)) drawings.set(key, { strokes: [], base: null, seq: 0, imageV: -1, width: 18 });
  const drawing = drawings.get(key);
  const ui = build(parentElement, drawing);
  const perf = perfRecord();
  const h = enc.header;
  Object.assign(perf, { ready: true, model: h.model, prepare: (rgba, w, hh) => Array.from(prepare(rgba, w, hh, h.prep)),
    encode: (px) => { const r = encodeWith(enc, px); return { mu: Array.from(r.mu), logvar: Array.from(r.logvar) }; } });
  const ink = inkCanvas(ui.canvas, drawing);
  const coder = encoding(ui, enc, drawing, ink, input.proj, perf);
  // tell Python (a stroke ended, undo, clear): the 28x28 it should score, or null
  const send = () => {
    drawing.seq += 1;
    perf.commits += 1;
    const current = coder.current();
    setStateValue("drawn", { seq: drawing.seq, pixels: current ? toBase64(current) : null });
  };
  const abort = new AbortController();
  const on = (target, type, fn) => target.addEventListener(type, fn, { signal: abort.signal });
  listenToInk(on, ui.canvas, ink, drawing, coder, send);
  on(ui.brush, "input", () => { drawing.width = Number(ui.brush.value); });
  on(ui.undo, "click", () => {
    if (!drawing.strokes.length) { if (!drawing.base) return; drawing.base = null; ink.setBase(null); }
    else drawing.strokes.pop();
    ink.repaint(); coder.encodeNow(); send();
  });
  on(ui.clear, "click", () => {
    drawing.strokes.length = 0; drawing.base = null; ink.setBase(null);
    ink.repaint(); coder.encodeNow(); send();
  });
  on(window, DECODER, (ev) => { if (ev.detail === h.model && coder.current()) coder.encodeNow(); });
  on(window, ENCODER, (ev) => { // the same model's encoder again, now with (or without) its decoder
    const again = ev.detail === h.model && encoderFor(h.model);
    if (again && !again.error && again !== coder.encoder()) coder.use(again);
  });
  ink.repaint();
  if (input.image && input.image.v !== drawing.imageV) { // an upload Python prepared: it replaces the drawing
    drawing.imageV = input.image.v;
    drawing.strokes.length = 0;
    drawing.base = Uint8Array.from(atob(input.image.pixels), (ch) => ch.charCodeAt(0));
    ink.setBase(drawing.base);
    ink.repaint();
  }
  coder.encodeNow();
  return () => { abort.abort(); coder.stop(); };
}

// the panel's elements: the ink canvas and its tools, what the model sees and its reconstruction,
// and the lines under them
function build(parentElement, drawing) {
  const root = el("div", { class: "vae-draw" }, parentElement);
  const row = el("div", { class: "row" }, root);
  const left = el("div", { class: "col" }, row);
  const canvas = el("canvas", { width: SIDE, height: SIDE, class: "ink", "data-testid": "draw-canvas",
    title: "Draw a digit: mouse, touch or pen" }, left);
  const tools = el("div", { class: "tools" }, left);
  const widthLabel = el("label", { class: "brush", text: "brush " }, tools);
  const brush = el("input", { type: "range", min: 6, max: 40, step: 1, "aria-label": "brush width" }, widthLabel);
  brush.value = drawing.width;
  const undo = el("button", { type: "button", "data-testid": "draw-undo", text: "Undo" }, tools);
  const clear = el("button", { type: "button", "data-testid": "draw-clear", text: "Clear" }, tools);
  const right = el("div", { class: "col side" }, row);
  const pics = el("div", { class: "pics" }, right);
  const fig = (label, id) => {
    const f = el("figure", {}, pics);
    const c = el("canvas", { width: 28, height: 28, class: "px", "data-testid": id }, f);
    el("figcaption", { text: label }, f);
    return c;
  };
  const seen = fig("what the model sees", "draw-input"), recon = fig("reconstruction from μ", "draw-recon");
  const stats = el("div", { class: "stats", "data-testid": "draw-stats" }, right);
  const message = el("div", { class: "message", "data-testid": "draw-message" }, right);
  const timing = el("div", { class: "timing", "data-testid": "draw-timing" }, right);
  return { canvas, brush, undo, clear, seen, recon, stats, message, timing };
}

// the ink canvas, white on black as MNIST: an upload as its base (setBase), the strokes over it;
// stroke(s) draws one, segment(w, q, p) a piece of one, repaint() all
function inkCanvas(canvas, drawing) {
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  let baseImage = null;
  const setBase = (pixels) => {
    baseImage = null;
    if (!pixels) return;
    const small = document.createElement("canvas");
    small.width = small.height = 28;
    const img = small.getContext("2d").createImageData(28, 28);
    for (let p = 0; p < 784; p++) {
      img.data[4 * p] = img.data[4 * p + 1] = img.data[4 * p + 2] = pixels[p];
      img.data[4 * p + 3] = 255;
    }
    small.getContext("2d").putImageData(img, 0, 0);
    baseImage = small;
  };
  const pen = () => Object.assign(ctx, { strokeStyle: "#fff", fillStyle: "#fff", lineCap: "round", lineJoin: "round" });
  const stroke = (s) => {
    ctx.lineWidth = s.w;
    ctx.beginPath();
    const [x0, y0] = s.pts[0];
    if (s.pts.length === 1) { ctx.arc(x0, y0, s.w / 2, 0, 2 * Math.PI); ctx.fill(); return; }
    ctx.moveTo(x0, y0);
    for (const [x, y] of s.pts.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  };
  const repaint = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, SIDE, SIDE);
    if (baseImage) { ctx.imageSmoothingEnabled = true; ctx.drawImage(baseImage, 0, 0, SIDE, SIDE); }
    pen();
    drawing.strokes.forEach(stroke);
  };
  const segment = (w, q, p) => {
    ctx.lineWidth = w;
    ctx.beginPath(); ctx.moveTo(q[0], q[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
  };
  setBase(drawing.base);
  return { ctx, setBase, pen, stroke, segment, repaint };
}

// encoding what is drawn, at most once per animation frame (schedule) or at once (encodeNow): the
// 28x28 the model sees, mu and sigma, the reconstruction, and the marker on the map and the pad
function encoding(ui, enc, drawing, ink, proj, perf) {
  const seenCtx = ui.seen.getContext("2d"), reconCtx = ui.recon.getContext("2d");
  const seenImg = seenCtx.createImageData(28, 28), reconImg = reconCtx.createImageData(28, 28);
  const reconPx = new Float32Array(784);
  let current = null, raf = 0; // the 28x28 the model sees now, or null
  const paint = (ctx, img, values, scale) => {
    for (let p = 0; p < 784; p++) {
      img.data[4 * p] = img.data[4 * p + 1] = img.data[4 * p + 2] = Math.round(values[p] * scale);
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  };
  const blank = (text) => {
    current = null;
    seenCtx.clearRect(0, 0, 28, 28); reconCtx.clearRect(0, 0, 28, 28);
    ui.stats.textContent = "";
    ui.message.textContent = text;
    setDrawn(null);
  };
  const encodeNow = () => {
    const t0 = performance.now();
    if (!drawing.strokes.length && !drawing.base) { blank("Draw a digit here, or upload an image below."); return; }
    let pixels = drawing.base; // with no strokes, an upload: exactly what Python made of it
    if (drawing.strokes.length) {
      try {
        pixels = prepare(ink.ctx.getImageData(0, 0, SIDE, SIDE).data, SIDE, SIDE, enc.header.prep);
      } catch (err) { blank(err.message); return; }
    }
    current = pixels;
    const tp = performance.now();
    const { mu, logvar } = encodeWith(enc, pixels);
    const decode = enc.decode || decoderFor(enc.header.model);
    if (decode) paint(reconCtx, reconImg, decode(mu, reconPx), 255);
    const t1 = performance.now();
    paint(seenCtx, seenImg, pixels, 1);
    show(ui, mu, logvar, t1 - tp, drawing.strokes.length ? tp - t0 : null, Boolean(decode));
    setDrawn({ model: enc.header.model, mu: Array.from(mu), logvar: Array.from(logvar),
      map: proj ? onMap(proj, mu, logvar) : null });
    perf.frames += 1;
    perf.encodeMs.push(t1 - tp); // encode + reconstruct
    perf.frameMs.push(t1 - t0); // with the preparing of the canvas's pixels
    if (perf.encodeMs.length > 4000) { perf.encodeMs.splice(0, 2000); perf.frameMs.splice(0, 2000); }
    perf.last = { pixels: Array.from(pixels), mu: Array.from(mu), logvar: Array.from(logvar) };
  };
  const schedule = () => { if (!raf) raf = requestAnimationFrame(() => { raf = 0; encodeNow(); }); };
  // the stroke's last frame is usually encoded already: then only its end is news
  const flush = () => { if (raf) { cancelAnimationFrame(raf); raf = 0; encodeNow(); } };
  const stop = () => { if (raf) cancelAnimationFrame(raf); };
  return { encodeNow, schedule, flush, stop, current: () => current, encoder: () => enc,
    use: (again) => { enc = again; encodeNow(); } };
}

// mu, sigma and the timing under the pictures
function show(ui, mu, logvar, encodeMs, prepareMs, reconstructed) {
  const fmt = (a) => Array.from(a.slice(0, 8), (v) => v.toFixed(2)).join(", ") + (a.length > 8 ? ", …" : "");
  ui.message.textContent = "";
  ui.stats.innerHTML = "";
  el("div", { text: `μ = (${fmt(mu)})` }, ui.stats);
  el("div", { text: `σ = (${fmt(Array.from(logvar, (v) => Math.exp(0.5 * v)))})` }, ui.stats);
  ui.timing.textContent = `encoded${reconstructed ? " and reconstructed" : ""} in your browser · ${encodeMs.toFixed(2)} ms`
    + (prepareMs !== null ? ` (+ ${prepareMs.toFixed(2)} ms preparing the 28×28)` : "");
}

// pointer events, mouse, touch and pen alike: a stroke per pointer down, encoded while it is drawn,
// sent when it ends
function listenToInk(on, canvas, ink, drawing, coder, send) {
  let live = null;
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [((ev.clientX - r.left) / r.width) * SIDE, ((ev.clientY - r.top) / r.height) * SIDE];
  };
  on(canvas, "pointerdown", (ev) => {
    if (live) return; // a second finger does not start another stroke
    ev.preventDefault();
    try { canvas.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic pointers cannot be captured */ }
    live = { id: ev.pointerId, stroke: { w: drawing.width, pts: [at(ev)] } };
    drawing.strokes.push(live.stroke);
    ink.pen();
    ink.stroke(live.stroke);
    coder.schedule();
  });
  on(canvas, "pointermove", (ev) => {
    if (!live || ev.pointerId !== live.id) return;
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
    for (const e of events.length ? events : [ev]) {
      const p = at(e), pts = live.stroke.pts, q = pts[pts.length - 1];
      pts.push(p);
      ink.segment(live.stroke.w, q, p);
    }
    coder.schedule();
  });
  const end = (ev) => {
    if (!live || ev.pointerId !== live.id) return;
    live = null;
    coder.flush();
    send();
  };
  on(canvas, "pointerup", end);
  on(canvas, "pointercancel", end);
}
