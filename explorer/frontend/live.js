// The decoder panel: z -> digit on every slider input and pad move, decoded in the page (live) or,
// when the blob says `remote` (live decoding off), by the server's route (explorer/remote.py).
// Data in: the weights blob (live.py: pack), once per model; the point Python last set arrives apart,
// as the "point" part of the decoder fragment's post (post.py; live.py: point; posts.js: onPosted).
// State out: {z} on release / click. A blob of another version or with an op this file does not
// know is refused with a message in the panel and the console, never decoded into NaNs; a request
// the server refuses shows its one line under the digit.

// The network kernels and the blob reader are in nn.js, and onPosted in posts.js, which precede this
// file in the module.
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

function mount(component, model) {
  const { key, parentElement, setStateValue } = component;
  const h = model.header, id = h.id;
  if (model.decode) registerDecoder(h.model, model.decode);
  const D = h.latent_dim;

  // the point shown: the user's last one, unless Python moved it since (a button, a new model)
  let sess = sessions.get(key);
  if (!sess || sess.id !== id) {
    sess = { z: new Float32Array(D), version: -1, id };
    sessions.set(key, sess);
  }
  const z = sess.z;
  const takePoint = (msg) => {
    if (!msg || msg.id !== id || msg.v === sess.version || msg.z.length !== D) return false;
    z.set(msg.z);
    sess.version = msg.v;
    return true;
  };
  takePoint(posted("point")); // before the DOM is built from z

  // ---- DOM (rebuilt on each render; listeners die with the abort below)
  const root = el("div", { class: "vae-live" }, parentElement);
  const top = el("div", { class: "row" }, root);
  const digit = el("canvas", { width: 28, height: 28, class: "digit", "data-testid": "live-digit" }, top);
  let pad = null, padBase = null;
  if (model.pad) {
    pad = el("canvas", { width: 280, height: 280, class: "pad", "data-testid": "live-pad",
      title: "Hover to preview, click or drag to set z" + h.pad.i + " and z" + h.pad.j }, top);
  }
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
    const value = el("span", { class: "value" }, row);
    sliders.push({ input, value });
  }

  // ---- drawing
  const ctx = digit.getContext("2d");
  const image = ctx.createImageData(28, 28);
  const pixels = new Float32Array(784);
  const perf = (window.__vaeLive = window.__vaeLive || { frames: 0, decodeMs: [], commits: 0 });
  if (model.decode) perf.decode = (zz) => Array.from(model.decode(Float32Array.from(zz), new Float32Array(784)));
  perf.ready = true;
  perf.remote = !model.decode;

  const toPad = (a, b) => {
    const [x0, x1] = h.ranges[h.pad.i], [y0, y1] = h.ranges[h.pad.j];
    return [((a - x0) / (x1 - x0)) * 280, (1 - (b - y0) / (y1 - y0)) * 280];
  };
  const fromPad = (px, py) => {
    const [x0, x1] = h.ranges[h.pad.i], [y0, y1] = h.ranges[h.pad.j];
    return [x0 + (px / 280) * (x1 - x0), y0 + (1 - py / 280) * (y1 - y0)];
  };
  if (pad) {
    padBase = document.createElement("canvas");
    padBase.width = padBase.height = 280;
    const pctx = padBase.getContext("2d");
    pctx.fillStyle = "#fff";
    pctx.fillRect(0, 0, 280, 280);
    const { xy, labels } = model.pad;
    for (let n = 0; n < h.pad.n; n++) {
      const [px, py] = toPad(xy[2 * n], xy[2 * n + 1]);
      pctx.fillStyle = h.pad.colors[labels[n] % h.pad.colors.length];
      pctx.fillRect(px - 1, py - 1, 2, 2);
    }
  }

  // a frame: the pad's cross and the values at once, the digit when its pixels are there
  function draw(zz) {
    drawPad(zz);
    sliders.forEach((s, d) => (s.value.textContent = zz[d].toFixed(2)));
    if (server) return server.ask(zz);
    const t0 = performance.now();
    model.decode(zz, pixels);
    paint((p) => Math.round(pixels[p] * 255), performance.now() - t0, "decoded in your browser");
  }
  function paint(value, ms, how) {
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
    stats.classList.remove("error");
    stats.textContent = `${how} · ${ms.toFixed(2)} ms`;
  }
  let live = true; // false once this render is replaced: a late reply must not paint the old panel
  const server = model.decode ? null : remoteDecoder(h, (bytes, zz, ms) => {
    if (live) paint((p) => bytes[p], ms, "decoded on the server");
  }, (problem) => {
    if (!live) return;
    console.error(problem);
    stats.classList.add("error");
    stats.textContent = problem;
  });

  let padZ = z;
  function drawPad(zz) {
    if (!pad) return;
    padZ = zz;
    const pctx = pad.getContext("2d");
    pctx.drawImage(padBase, 0, 0);
    const [px, py] = toPad(zz[h.pad.i], zz[h.pad.j]);
    pctx.strokeStyle = "#000";
    pctx.lineWidth = 2;
    pctx.beginPath();
    pctx.moveTo(px - 8, py); pctx.lineTo(px + 8, py); pctx.moveTo(px, py - 8); pctx.lineTo(px, py + 8);
    pctx.stroke();
    drawOwn(pctx);
  }

  // the user's own digit (draw.js): its mean and ±2σ ellipse in the pad's two dims
  function drawOwn(pctx) {
    const own = window.__vaeDrawn;
    if (!own || own.model !== h.model) return;
    const [i, j] = [h.pad.i, h.pad.j];
    const [px, py] = toPad(own.mu[i], own.mu[j]);
    const [qx, qy] = toPad(own.mu[i] + 2 * Math.exp(0.5 * own.logvar[i]), own.mu[j] + 2 * Math.exp(0.5 * own.logvar[j]));
    pctx.strokeStyle = "#d6336c";
    pctx.lineWidth = 1.5;
    pctx.setLineDash([3, 3]);
    pctx.beginPath();
    pctx.ellipse(px, py, Math.abs(qx - px), Math.abs(qy - py), 0, 0, 2 * Math.PI);
    pctx.stroke();
    pctx.setLineDash([]);
    pctx.fillStyle = "#d6336c";
    pctx.beginPath();
    pctx.moveTo(px, py - 7); pctx.lineTo(px + 7, py); pctx.lineTo(px, py + 7); pctx.lineTo(px - 7, py);
    pctx.closePath();
    pctx.fill();
  }

  // one decode per animation frame, whatever the event rate
  let pending = null, raf = 0;
  const show = (zz) => {
    pending = zz;
    if (!raf) raf = requestAnimationFrame(() => { raf = 0; draw(pending); });
  };
  // commit on release; key repeats on a slider fire many changes, so wait for a pause of 150 ms
  let commitTimer = 0;
  const commit = () => {
    clearTimeout(commitTimer);
    commitTimer = setTimeout(() => {
      perf.commits += 1;
      setStateValue("z", Array.from(z, (v) => Math.round(v * 1000) / 1000));
    }, 150);
  };

  const abort = new AbortController();
  const on = (target, type, fn) => target.addEventListener(type, fn, { signal: abort.signal });
  sliders.forEach((s, d) => {
    on(s.input, "input", () => { z[d] = parseFloat(s.input.value); show(z); });
    on(s.input, "change", commit);
  });
  if (pad) {
    let dragging = false;
    const at = (ev) => {
      const r = pad.getBoundingClientRect();
      const [a, b] = fromPad(((ev.clientX - r.left) / r.width) * 280, ((ev.clientY - r.top) / r.height) * 280);
      const clamp = (v, [lo, hi]) => Math.min(hi, Math.max(lo, v));
      return [clamp(a, h.ranges[h.pad.i]), clamp(b, h.ranges[h.pad.j])];
    };
    const moveTo = ([a, b]) => {
      z[h.pad.i] = a; z[h.pad.j] = b;
      sliders[h.pad.i].input.value = a; sliders[h.pad.j].input.value = b;
    };
    on(pad, "pointerdown", (ev) => {
      dragging = true;
      try { pad.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic pointers cannot be captured */ }
      moveTo(at(ev));
      show(z);
    });
    on(pad, "pointermove", (ev) => {
      if (dragging) { moveTo(at(ev)); show(z); return; }
      const preview = Float32Array.from(z); // hover: preview only, z stays
      [preview[h.pad.i], preview[h.pad.j]] = at(ev);
      show(preview);
    });
    on(pad, "pointerup", () => { if (dragging) { dragging = false; commit(); } });
    on(pad, "pointerleave", () => { if (!dragging) show(z); });
  }
  let ownRaf = 0; // the user's digit moves while they draw: redraw the pad (only) once per frame
  on(window, "vae-drawn", () => { if (!ownRaf) ownRaf = requestAnimationFrame(() => { ownRaf = 0; drawPad(padZ); }); });
  onPosted("point", (part) => {
    if (!takePoint(part)) return;
    sliders.forEach((s, d) => (s.input.value = z[d]));
    show(z);
  }, abort.signal);
  draw(z);
  return () => { live = false; server?.stop(); abort.abort(); if (raf) cancelAnimationFrame(raf); if (ownRaf) cancelAnimationFrame(ownRaf); clearTimeout(commitTimer); };
}
