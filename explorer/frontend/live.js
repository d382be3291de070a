// The decoder panel: z -> digit on every slider input and pad move, decoded in the page (live) or,
// when the blob says `remote` (live decoding off), by the server's route (explorer/backend/remote.py).
// Data in: the weights blob (backend/weights.py: pack), once per model; the point Python last set
// arrives apart, as the "point" part of the decoder fragment's post (panels/decoder.py: point).
// State out: {z} on release / click. A blob of another version or with an op this file does not
// know is refused with a message in the panel and the console, never decoded into NaNs; a request
// the server refuses shows its one line under the digit.
import { el, refuse } from "./dom.js";
import { buildNet, decoderOf, readFloats, readHeader, registerDecoder } from "./nn.js";
import { onPosted, posted } from "./posts.js";
import { vae, DRAWN } from "./shared.js";

const models = new Map(); // blob id -> parsed model, kept across re-renders
const sessions = new Map(); // component key -> {z, version} the user left it at
const unmounts = new Map(); // component key -> the cleanup of its current render

function parse(bytes, header, start) {
  const floats = readFloats(bytes, header, start);
  const slice = (off, n) => floats.subarray(off, off + n);
  const pad = header.pad && { xy: slice(header.pad.xy, header.pad.n * 2), labels: slice(header.pad.labels, header.pad.n) };
  if (header.remote) return { header, pad, decode: null };
  const net = buildNet(header.layers, floats, header.latent_dim);
  if (net.outSize !== 784) throw new Error(`decoder gives ${net.outSize} values, not 784 pixels`);
  return { header, pad, decode: decoderOf(net) };
}

// server decoding: z -> the route's 784 bytes, one request at a time and at most one per
// h.remote.every_ms; the latest z asked for is the next one sent
export function remoteDecoder(h, onPixels, onProblem) {
  let busy = false, want = null, last = -Infinity, timer = 0;
  const next = async () => {
    if (busy || !want || timer) return;
    const wait = last + h.remote.every_ms - performance.now();
    if (wait > 0) { timer = setTimeout(() => { timer = 0; next(); }, wait); return; }
    const zz = want, t0 = (last = performance.now());
    want = null;
    busy = true;
    try {
      const q = `m=${encodeURIComponent(h.model)}&z=${Array.from(zz, (v) => +v.toFixed(4)).join(",")}`;
      const r = await fetch(`${h.remote.url}?${q}`, { cache: "no-store" });
      const body = new Uint8Array(await r.arrayBuffer());
      if (!r.ok) throw new Error(new TextDecoder().decode(body.subarray(0, 300)));
      if (body.length !== 784) throw new Error(`the server sent ${body.length} bytes, not 784 pixels`);
      onPixels(body, zz, performance.now() - t0);
    } catch (err) {
      onProblem(`server decoding: ${err.message}`);
    } finally {
      busy = false;
      next();
    }
  };
  return {
    ask(zz) { want = Float32Array.from(zz); next(); },
    stop() { want = null; clearTimeout(timer); timer = -1; }, // the panel is gone: no further request
  };
}

// for tests: a decoder z -> 784 pixel means from a blob made by weights.pack()
export function decoderFromBlob(bytes) {
  const { header, start } = readHeader(bytes);
  const model = parse(bytes, header, start);
  return (z) => Array.from(model.decode(Float32Array.from(z), new Float32Array(784)));
}

export default function (component) {
  const { data, parentElement, key } = component;
  if (!data) return;
  // a render with new data (live <-> server decoding) replaces the last one, whose listeners would
  // otherwise take the next point first: Streamlit calls a render's cleanup only when it unmounts
  const previous = unmounts.get(key);
  unmounts.delete(key);
  previous?.();
  parentElement.querySelectorAll(".vae-live").forEach((n) => n.remove());
  let model;
  try {
    const { header, start } = readHeader(data);
    const cached = header.id + (header.remote ? "|remote" : "");
    if (!models.has(cached)) models.set(cached, parse(data, header, start));
    model = models.get(cached);
  } catch (err) {
    return refuse(parentElement, "vae-live", "live-error", `live decoder: ${err.message}`);
  }
  const unmount = mount(component, model);
  unmounts.set(key, unmount);
  return () => { unmount(); if (unmounts.get(key) === unmount) unmounts.delete(key); };
}

// ---- a render of the panel, in steps: the point shown, the elements, the pad, painting, the frame
// loop, committing, and the listeners that drive them
function mount(component, model) {
  const { key, parentElement, setStateValue } = component;
  const h = model.header;
  if (model.decode) registerDecoder(h.model, model.decode);
  const sess = session(key, h);
  const z = sess.z;
  const ui = build(parentElement, h, z);
  const perf = record(model);
  const pad = ui.pad ? padView(h, model.pad, ui.pad) : null;
  const painter = digitPainter(ui, perf);
  const frames = frameLoop(model, h, ui, pad, painter);
  const commit = committer(setStateValue, z, perf);
  const abort = new AbortController();
  const on = (target, type, fn) => target.addEventListener(type, fn, { signal: abort.signal });
  ui.sliders.forEach((s, d) => {
    on(s.input, "input", () => { z[d] = parseFloat(s.input.value); frames.show(z); });
    on(s.input, "change", commit.soon);
  });
  if (pad) listenToPad(on, pad, ui, z, frames, commit);
  on(window, DRAWN, frames.redrawPad); // the user's digit moves while they draw
  onPosted("point", (part) => {
    if (!sess.take(part)) return;
    ui.sliders.forEach((s, d) => (s.input.value = z[d]));
    frames.show(z);
  }, abort.signal);
  frames.draw(z);
  return () => { frames.stop(); commit.stop(); abort.abort(); };
}

// the point shown: the user's last one for this component and blob, unless Python moved it since
// (a button, a new model); take(msg) takes a posted point that is news
function session(key, h) {
  let sess = sessions.get(key);
  if (!sess || sess.id !== h.id) {
    sess = { z: new Float32Array(h.latent_dim), version: -1, id: h.id };
    sessions.set(key, sess);
  }
  sess.take = (msg) => {
    if (!msg || msg.id !== h.id || msg.v === sess.version || msg.z.length !== h.latent_dim) return false;
    sess.z.set(msg.z);
    sess.version = msg.v;
    return true;
  };
  sess.take(posted("point")); // before the elements are built from z
  return sess;
}

// the panel's elements, rebuilt on each render: the digit, the pad, a stats line, a slider per dim
// (those past h.fold_after folded away)
function build(parentElement, h, z) {
  const D = h.latent_dim;
  const root = el("div", { class: "vae-live" }, parentElement);
  const top = el("div", { class: "row" }, root);
  const digit = el("canvas", { width: 28, height: 28, class: "digit", "data-testid": "live-digit" }, top);
  const pad = h.pad ? el("canvas", { width: 280, height: 280, class: "pad", "data-testid": "live-pad",
    title: "Hover to preview, click or drag to set z" + h.pad.i + " and z" + h.pad.j }, top) : null;
  const stats = el("div", { class: "stats", "data-testid": "live-stats" }, root);
  const sliders = [];
  let box = el("div", { class: "sliders" }, root);
  for (let d = 0; d < D; d++) {
    if (d === h.fold_after) {
      const more = el("details", {}, root);
      el("summary", { text: `z${d} … z${D - 1}` }, more);
      box = el("div", { class: "sliders" }, more);
    }
    const row = el("label", { class: "slider" }, box);
    el("span", { class: "name", text: `z${d}` }, row);
    const [lo, hi] = h.ranges[d];
    const input = el("input", { type: "range", min: lo, max: hi, step: 0.01, "aria-label": `live z${d}` }, row);
    input.value = z[d];
    sliders.push({ input, value: el("span", { class: "value" }, row) });
  }
  return { digit, pad, stats, sliders };
}

// what the panel did, for tests and bench/ (vae.live)
function record(model) {
  const perf = (vae.live ||= { frames: 0, decodeMs: [], commits: 0 });
  if (model.decode) perf.decode = (zz) => Array.from(model.decode(Float32Array.from(zz), new Float32Array(784)));
  perf.ready = true;
  perf.remote = !model.decode;
  return perf;
}

// the pad: the test points in two dims, drawn once on a canvas of their own; draw(z) puts the cross
// (and the user's own digit) over them; at(pointer event) is the pad dims' z under the pointer,
// inside the slider ranges
function padView(h, points, canvas) {
  const [i, j] = [h.pad.i, h.pad.j];
  const toPad = (a, b) => {
    const [x0, x1] = h.ranges[i], [y0, y1] = h.ranges[j];
    return [((a - x0) / (x1 - x0)) * 280, (1 - (b - y0) / (y1 - y0)) * 280];
  };
  const fromPad = (px, py) => {
    const [x0, x1] = h.ranges[i], [y0, y1] = h.ranges[j];
    return [x0 + (px / 280) * (x1 - x0), y0 + (1 - py / 280) * (y1 - y0)];
  };
  const base = document.createElement("canvas");
  base.width = base.height = 280;
  const bctx = base.getContext("2d");
  bctx.fillStyle = "#fff";
  bctx.fillRect(0, 0, 280, 280);
  for (let n = 0; n < h.pad.n; n++) {
    const [px, py] = toPad(points.xy[2 * n], points.xy[2 * n + 1]);
    bctx.fillStyle = h.pad.colors[points.labels[n] % h.pad.colors.length];
    bctx.fillRect(px - 1, py - 1, 2, 2);
  }
  const draw = (zz) => {
    const ctx = canvas.getContext("2d");
    ctx.drawImage(base, 0, 0);
    const [px, py] = toPad(zz[i], zz[j]);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(px - 8, py); ctx.lineTo(px + 8, py); ctx.moveTo(px, py - 8); ctx.lineTo(px, py + 8);
    ctx.stroke();
    drawOwn(ctx, h.model, i, j, toPad);
  };
  const clamp = (v, [lo, hi]) => Math.min(hi, Math.max(lo, v));
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    const [a, b] = fromPad(((ev.clientX - r.left) / r.width) * 280, ((ev.clientY - r.top) / r.height) * 280);
    return [clamp(a, h.ranges[i]), clamp(b, h.ranges[j])];
  };
  return { canvas, i, j, at, draw };
}

// the user's own digit (draw.js: vae.drawn): its mean and ±2σ ellipse in the pad's two dims
function drawOwn(ctx, model, i, j, toPad) {
  const own = vae.drawn;
  if (!own || own.model !== model) return;
  const [px, py] = toPad(own.mu[i], own.mu[j]);
  const [qx, qy] = toPad(own.mu[i] + 2 * Math.exp(0.5 * own.logvar[i]), own.mu[j] + 2 * Math.exp(0.5 * own.logvar[j]));
  ctx.strokeStyle = "#d6336c";
  ctx.lineWidth = 1.5;
  ctx.setLineDash([3, 3]);
  ctx.beginPath();
  ctx.ellipse(px, py, Math.abs(qx - px), Math.abs(qy - py), 0, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = "#d6336c";
  ctx.beginPath();
  ctx.moveTo(px, py - 7); ctx.lineTo(px + 7, py); ctx.lineTo(px, py + 7); ctx.lineTo(px - 7, py);
  ctx.closePath();
  ctx.fill();
}

// the digit: paint(value(p) -> 0..255, ms, how) fills it and says how it was decoded; problem(text)
// shows a refusal under it
function digitPainter(ui, perf) {
  const ctx = ui.digit.getContext("2d");
  const image = ctx.createImageData(28, 28);
  const paint = (value, ms, how) => {
    for (let p = 0; p < 784; p++) {
      image.data[4 * p] = image.data[4 * p + 1] = image.data[4 * p + 2] = value(p);
      image.data[4 * p + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    perf.frames += 1;
    perf.lastFrameAt = performance.now();
    if (perf.firstFrameMs === undefined) perf.firstFrameMs = performance.now(); // ms since navigation
    perf.decodeMs.push(ms);
    if (perf.decodeMs.length > 2000) perf.decodeMs.splice(0, 1000);
    ui.stats.classList.remove("error");
    ui.stats.textContent = `${how} · ${ms.toFixed(2)} ms`;
  };
  const problem = (text) => {
    console.error(text);
    ui.stats.classList.add("error");
    ui.stats.textContent = text;
  };
  return { paint, problem };
}

// frames: draw(z) now (the pad's cross and the values at once, the digit when its pixels are there,
// decoded here or asked of the server), show(z) at the next animation frame (one decode per frame,
// whatever the event rate), redrawPad() for the user's digit, stop() when the render is replaced
function frameLoop(model, h, ui, pad, painter) {
  const pixels = new Float32Array(784);
  let live = true; // false once this render is replaced: a late reply must not paint the old panel
  const server = model.decode ? null : remoteDecoder(h, (bytes, zz, ms) => {
    if (live) painter.paint((p) => bytes[p], ms, "decoded on the server");
  }, (problem) => { if (live) painter.problem(problem); });
  let padZ = null, pending = null, raf = 0, padRaf = 0;
  const draw = (zz) => {
    padZ = zz;
    if (pad) pad.draw(zz);
    ui.sliders.forEach((s, d) => (s.value.textContent = zz[d].toFixed(2)));
    if (server) return server.ask(zz);
    const t0 = performance.now();
    model.decode(zz, pixels);
    painter.paint((p) => Math.round(pixels[p] * 255), performance.now() - t0, "decoded in your browser");
  };
  const show = (zz) => {
    pending = zz;
    if (!raf) raf = requestAnimationFrame(() => { raf = 0; draw(pending); });
  };
  const redrawPad = () => {
    if (pad && !padRaf) padRaf = requestAnimationFrame(() => { padRaf = 0; if (padZ) pad.draw(padZ); });
  };
  const stop = () => {
    live = false;
    server?.stop();
    if (raf) cancelAnimationFrame(raf);
    if (padRaf) cancelAnimationFrame(padRaf);
  };
  return { draw, show, redrawPad, stop };
}

// commit z to Python on release: soon() waits for a pause of 150 ms, as key repeats on a slider fire
// many changes
function committer(setStateValue, z, perf) {
  let timer = 0;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      perf.commits += 1;
      setStateValue("z", Array.from(z, (v) => Math.round(v * 1000) / 1000));
    }, 150);
  };
  return { soon, stop: () => clearTimeout(timer) };
}

// the pad: hover previews (z stays), a click or a drag sets z's two pad dims, release commits
function listenToPad(on, pad, ui, z, frames, commit) {
  const { canvas, at } = pad;
  let dragging = false;
  const moveTo = ([a, b]) => {
    z[pad.i] = a; z[pad.j] = b;
    ui.sliders[pad.i].input.value = a; ui.sliders[pad.j].input.value = b;
  };
  on(canvas, "pointerdown", (ev) => {
    dragging = true;
    try { canvas.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic pointers cannot be captured */ }
    moveTo(at(ev));
    frames.show(z);
  });
  on(canvas, "pointermove", (ev) => {
    if (dragging) { moveTo(at(ev)); frames.show(z); return; }
    const preview = Float32Array.from(z); // hover: preview only, z stays
    [preview[pad.i], preview[pad.j]] = at(ev);
    frames.show(preview);
  });
  on(canvas, "pointerup", () => { if (dragging) { dragging = false; commit.soon(); } });
  on(canvas, "pointerleave", () => { if (!dragging) frames.show(z); });
}
