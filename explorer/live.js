// Live VAE decoder: decodes z -> digit in the page on every slider input and pad move.
// Data in: the weights blob (live.py: pack), once per model; the point Python last set arrives apart,
// as a "vae-live-point" event from the vae_live_point element (live.py: point_message).
// State out: {z} on release / click. A blob of another version or with an op this file does not
// know is refused with a message in the panel and the console, never decoded into NaNs.

const MAGIC = "VAEW";
const VERSION = 1;
const OPS = new Set(["linear", "convT"]);
const models = new Map(); // blob id -> parsed model, kept across re-renders
const sessions = new Map(); // component key -> {z, version} the user left it at

function readHeader(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) throw new Error("live decoder: not a weights blob");
  const headerLen = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  if (header.version !== VERSION) {
    throw new Error(`live decoder: weights format version ${header.version}, this page reads ${VERSION}`);
  }
  const unknown = header.layers.map((l) => l.op).filter((op) => !OPS.has(op));
  if (unknown.length) throw new Error(`live decoder: unknown layer op "${unknown[0]}"`);
  return { header, start: 8 + headerLen };
}

function parse(bytes, header, start) {
  // copy the payload so Float32Array views are 4-byte aligned whatever the blob's offset
  const floats = new Float32Array(bytes.slice(start, start + header.n_floats * 4).buffer);
  const slice = (off, n) => floats.subarray(off, off + n);
  let widest = header.latent_dim;
  const layers = header.layers.map((l) => {
    if (l.op === "linear") {
      widest = Math.max(widest, l.in, l.out);
      return { ...l, W: slice(l.w, l.in * l.out), b: slice(l.b, l.out) };
    }
    const hout = (l.hin - 1) * l.stride - 2 * l.pad + l.k + l.outpad;
    const wout = (l.win - 1) * l.stride - 2 * l.pad + l.k + l.outpad;
    widest = Math.max(widest, l.cin * l.hin * l.win, l.cout * hout * wout);
    return { ...l, hout, wout, W: slice(l.w, l.cin * l.cout * l.k * l.k), b: slice(l.b, l.cout) };
  });
  return {
    layers,
    bufA: new Float32Array(widest), bufB: new Float32Array(widest), acc: new Float64Array(widest),
    pad: header.pad && {
      xy: slice(header.pad.xy, header.pad.n * 2),
      labels: slice(header.pad.labels, header.pad.n),
    },
  };
}

function linear(l, input, output) {
  const { in: nIn, out: nOut, W, b, relu } = l;
  for (let o = 0; o < nOut; o++) {
    let acc = 0;
    const row = o * nIn;
    for (let i = 0; i < nIn; i++) acc += W[row + i] * input[i];
    acc += b[o];
    output[o] = relu && acc < 0 ? 0 : acc;
  }
}

// ConvTranspose2d, torch's weight layout [c_in, c_out, k, k]: each input pixel scatters a k x k patch
function convTranspose(l, input, output, acc) {
  const { cin, hin, win, cout, hout, wout, k, stride, pad, W, b, relu } = l;
  const plane = hout * wout;
  for (let co = 0; co < cout; co++) acc.fill(b[co], co * plane, (co + 1) * plane);
  for (let ci = 0; ci < cin; ci++) {
    for (let iy = 0; iy < hin; iy++) {
      for (let ix = 0; ix < win; ix++) {
        const v = input[(ci * hin + iy) * win + ix];
        if (v === 0) continue; // after a ReLU, most are
        for (let co = 0; co < cout; co++) {
          const wBase = (ci * cout + co) * k * k, oBase = co * plane;
          for (let ky = 0; ky < k; ky++) {
            const oy = iy * stride - pad + ky;
            if (oy < 0 || oy >= hout) continue;
            for (let kx = 0; kx < k; kx++) {
              const ox = ix * stride - pad + kx;
              if (ox >= 0 && ox < wout) acc[oBase + oy * wout + ox] += v * W[wBase + ky * k + kx];
            }
          }
        }
      }
    }
  }
  for (let i = 0; i < cout * plane; i++) output[i] = relu && acc[i] < 0 ? 0 : acc[i];
}

// pixel means [784] for z, in float32 like torch (each layer's output rounded to float32), then sigmoid
function decode(model, z, out) {
  let input = model.bufA, output = model.bufB;
  input.set(z);
  for (const layer of model.layers) {
    if (layer.op === "linear") linear(layer, input, output);
    else convTranspose(layer, input, output, model.acc);
    [input, output] = [output, input];
  }
  for (let p = 0; p < 784; p++) out[p] = 1 / (1 + Math.exp(-input[p]));
  return out;
}

// for tests: a decoder z -> 784 pixel means from a blob made by live.py's pack()
export function decoderFromBlob(bytes) {
  const { header, start } = readHeader(bytes);
  const model = parse(bytes, header, start);
  return (z) => Array.from(decode(model, Float32Array.from(z), new Float32Array(784)));
}

function el(tag, attrs = {}, parent = null) {
  const e = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => (k === "text" ? (e.textContent = v) : e.setAttribute(k, v)));
  if (parent) parent.appendChild(e);
  return e;
}

export default function (component) {
  const { data, parentElement } = component;
  if (!data) return;
  parentElement.querySelectorAll(".vae-live").forEach((n) => n.remove());
  let h, start;
  try {
    ({ header: h, start } = readHeader(data));
  } catch (err) {
    console.error(err.message);
    el("div", { class: "vae-live error", "data-testid": "live-error", text: err.message }, parentElement);
    return;
  }
  return mount(component, h, start);
}

function mount(component, h, start) {
  const { data, key, parentElement, setStateValue } = component;
  const id = h.id;
  if (!models.has(id)) models.set(id, parse(data, h, start));
  const model = models.get(id);
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
  takePoint(window.__vaeLivePoint);

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
  perf.decode = (zz) => Array.from(decode(model, Float32Array.from(zz), new Float32Array(784)));
  perf.ready = true;

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

  function draw(zz) {
    const t0 = performance.now();
    decode(model, zz, pixels);
    const t1 = performance.now();
    for (let p = 0; p < 784; p++) {
      const v = Math.round(pixels[p] * 255);
      image.data[4 * p] = image.data[4 * p + 1] = image.data[4 * p + 2] = v;
      image.data[4 * p + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    if (pad) {
      const pctx = pad.getContext("2d");
      pctx.drawImage(padBase, 0, 0);
      const [px, py] = toPad(zz[h.pad.i], zz[h.pad.j]);
      pctx.strokeStyle = "#000";
      pctx.lineWidth = 2;
      pctx.beginPath();
      pctx.moveTo(px - 8, py); pctx.lineTo(px + 8, py); pctx.moveTo(px, py - 8); pctx.lineTo(px, py + 8);
      pctx.stroke();
    }
    sliders.forEach((s, d) => (s.value.textContent = zz[d].toFixed(2)));
    perf.frames += 1;
    perf.lastFrameAt = performance.now();
    if (perf.firstFrameMs === undefined) perf.firstFrameMs = performance.now(); // ms since navigation
    perf.decodeMs.push(t1 - t0);
    if (perf.decodeMs.length > 2000) perf.decodeMs.splice(0, 1000);
    stats.textContent = `decoded in your browser · ${(t1 - t0).toFixed(2)} ms`;
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
  on(window, "vae-live-point", (ev) => {
    if (!takePoint(ev.detail)) return;
    sliders.forEach((s, d) => (s.input.value = z[d]));
    show(z);
  });
  draw(z);
  return () => { abort.abort(); if (raf) cancelAnimationFrame(raf); clearTimeout(commitTimer); };
}
