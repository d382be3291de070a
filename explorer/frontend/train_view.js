// The Train view's picture (explorer/panels/train.py): a run's history (vae_core/history.py), fetched
// from the server's history route and drawn here, live while its train.py runs, or replayed with a
// scrubber and a play button (no script run per frame: the whole history is in the page).
// Data in: JSON {v, url, h, live, colors: [css per class], classes: [names]}. State out: {ended: h}
// once a run this page watched live has stopped (the server's controls change then).
import { el, refuse } from "./dom.js";

const VERSION = 1, MAP = 440, POLL_MS = 150, GLIDE_MS = 180, PLAY_FPS = 30;
// a glide toward new frames is drawn at most this often: the CPU it leaves is the training's
const GLIDE_FPS = 20;
const HALF = (() => { // float16 bits -> float32, a table of 65,536
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();
const SIZES = { "<f2": 2, "<f4": 4, "|u1": 1, "<u2": 2 };

// whole records of buf (an ArrayBuffer the server checked), appended to run
export function parseRecords(buf, skipMagic, into) {
  const view = new DataView(buf), bytes = new Uint8Array(buf);
  let at = skipMagic ? 8 : 0;
  while (at + 16 <= buf.byteLength) {
    const kind = String.fromCharCode(...bytes.subarray(at, at + 4));
    const nmeta = view.getUint32(at + 4, true);
    const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(at + 16, at + 16 + nmeta)));
    let off = at + 16 + nmeta;
    const arrays = {};
    for (const [name, dtype, shape] of meta.arrays) {
      const n = shape.reduce((a, b) => a * b, 1), chunk = bytes.slice(off, off + n * SIZES[dtype]).buffer;
      if (dtype === "<f2") {
        const u = new Uint16Array(chunk), f = new Float32Array(n);
        for (let i = 0; i < n; i++) f[i] = HALF[u[i]];
        arrays[name] = f;
      } else arrays[name] = dtype === "<f4" ? new Float32Array(chunk) : dtype === "<u2" ? new Uint16Array(chunk) : new Uint8Array(chunk);
      off += n * SIZES[dtype];
    }
    into.push({ kind, meta, arrays });
    at = off;
  }
}

// the extent a frame is drawn at: 1.15 x its 99th percentile of |coordinate| (the map follows the blob as it grows)
function extentOf(xy) {
  const a = Array.from(xy, Math.abs).filter(Number.isFinite).sort((p, q) => p - q);
  return Math.max(1e-3, 1.15 * (a[Math.floor(0.99 * (a.length - 1))] || 1));
}

class Run {
  constructor() { this.run = null; this.frames = []; this.epochs = []; this.stop = null; this.offset = 0; }
  add(records) {
    for (const r of records) {
      if (r.kind === "RUN_") this.run = r;
      else if (r.kind === "FRAM") { r.extent = extentOf(r.arrays.xy); this.frames.push(r); this.stop = null; }
      else if (r.kind === "EPOC") this.epochs.push(r);
      else if (r.kind === "STOP") this.stop = r;
    }
  }
  take(buf) { // a route answer: whole records after what the page has
    const records = [];
    parseRecords(buf, this.offset === 0, records);
    this.offset += buf.byteLength;
    this.add(records);
    return records;
  }
  imageAt(k) { // the latest grid of decodes at or before frame k
    for (let i = Math.min(k, this.frames.length - 1); i >= 0; i--) if (this.frames[i].arrays.img) return this.frames[i];
    return null;
  }
}

function build(parent) {
  const root = el("div", { class: "vae-train", "data-testid": "train-view" }, parent);
  const left = el("div", { class: "vae-train-left" }, root), right = el("div", { class: "vae-train-right" }, root);
  const map = el("canvas", { width: MAP, height: MAP, class: "vae-train-map", "data-testid": "train-map" }, left);
  const bar = el("div", { class: "vae-train-bar" }, left);
  const play = el("button", { type: "button", "data-testid": "train-play", text: "▶ Play" }, bar);
  const scrub = el("input", { type: "range", min: "0", max: "0", value: "0", step: "any", "data-testid": "train-scrub",
                             "aria-label": "Moment of training" }, bar);
  const speed = el("select", { "data-testid": "train-speed", "aria-label": "Replay speed" }, bar);
  [["0.25", "¼×"], ["1", "1×"], ["4", "4×"]].forEach(([v, t]) => el("option", { value: v, text: t }, speed));
  speed.value = "1";
  const status = el("div", { class: "vae-train-status", "data-testid": "train-status", text: "Waiting for the run…" }, right);
  const curves = el("canvas", { width: 380, height: 170, class: "vae-train-curves", "data-testid": "train-curves" }, right);
  const kl = el("canvas", { width: 380, height: 70, class: "vae-train-kl", "data-testid": "train-kl" }, right);
  const cap = el("div", { class: "vae-train-cap", text: "" }, right);
  const grid = el("canvas", { width: 224, height: 224, class: "vae-train-grid", "data-testid": "train-grid" }, right);
  return { root, map, play, scrub, speed, status, curves, kl, grid, cap };
}

function drawMap(ui, run, pos, colors) {
  const f = run.frames, k = Math.floor(pos), t = pos - k, a = f[k], b = f[Math.min(k + 1, f.length - 1)];
  const ctx = ui.map.getContext("2d"), n = a.arrays.xy.length / 2, labels = run.run.arrays.labels;
  const ext = a.extent + (b.extent - a.extent) * t, half = MAP / 2, s = (half - 8) / ext;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, MAP, MAP);
  ctx.strokeStyle = "#ddd";
  ctx.beginPath();
  ctx.moveTo(half, 0); ctx.lineTo(half, MAP); ctx.moveTo(0, half); ctx.lineTo(MAP, half);
  ctx.stroke();
  const px = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const x = a.arrays.xy[2 * i] + (b.arrays.xy[2 * i] - a.arrays.xy[2 * i]) * t;
    const y = a.arrays.xy[2 * i + 1] + (b.arrays.xy[2 * i + 1] - a.arrays.xy[2 * i + 1]) * t;
    px[2 * i] = half + x * s;
    px[2 * i + 1] = half - y * s;
    ctx.fillStyle = colors[labels[i] % colors.length];
    ctx.fillRect(px[2 * i] - 1.5, px[2 * i + 1] - 1.5, 3, 3);
  }
  ctx.fillStyle = "#555";
  ctx.font = "12px sans-serif";
  ctx.fillText(`±${ext.toPrecision(2)}`, 6, 14);
  return { px, ext, half, s };
}

function drawCurves(ui, run, k) {
  const ctx = ui.curves.getContext("2d"), W = ui.curves.width, H = ui.curves.height, f = run.frames;
  ctx.clearRect(0, 0, W, H);
  const last = f[f.length - 1].meta.step || 1, pts = f.filter((r) => r.meta.loss !== undefined);
  if (!pts.length) return;
  const sorted = pts.map((r) => r.meta.loss).sort((a, b) => a - b), lo = 0; // the first steps' loss is off the scale
  const hi = Math.min(sorted[sorted.length - 1], 1.5 * sorted[Math.floor(sorted.length / 2)]);
  const X = (st) => 30 + (st / last) * (W - 40);
  const Y = (v) => Math.max(14, H - 18 - ((v - lo) / (hi - lo || 1)) * (H - 30));
  const line = (key, color) => {
    ctx.strokeStyle = color;
    ctx.beginPath();
    pts.forEach((r, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, X(r.meta.step), Y(r.meta[key])));
    ctx.stroke();
  };
  line("loss", "#1f77b4"); line("nll", "#2ca02c"); line("kl", "#d62728");
  ctx.fillStyle = "#000";
  run.epochs.forEach((e) => ctx.fillRect(X(e.meta.step) - 2, Y(e.meta.test_neg_elbo) - 2, 4, 4));
  ctx.strokeStyle = "#888";
  const cx = X(f[k].meta.step);
  ctx.beginPath(); ctx.moveTo(cx, 0); ctx.lineTo(cx, H - 14); ctx.stroke();
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#1f77b4"; ctx.fillText("−ELBO", 32, 12);
  ctx.fillStyle = "#2ca02c"; ctx.fillText("reconstruction", 80, 12);
  ctx.fillStyle = "#d62728"; ctx.fillText("KL", 170, 12);
  ctx.fillStyle = "#000"; ctx.fillText("■ test per epoch", 192, 12);
  ctx.fillStyle = "#555"; ctx.fillText(hi.toFixed(0), 2, 24); ctx.fillText("0", 2, H - 18);
}

function drawKl(ui, frame) {
  const ctx = ui.kl.getContext("2d"), W = ui.kl.width, H = ui.kl.height, v = frame.arrays.kl;
  ctx.clearRect(0, 0, W, H);
  const n = Math.min(v.length, 64), w = (W - 10) / n, hi = Math.max(1, ...v.slice(0, n));
  for (let i = 0; i < n; i++) {
    const h = (v[i] / hi) * (H - 20);
    ctx.fillStyle = v[i] > 0.01 ? "#1f77b4" : "#bbb";
    ctx.fillRect(5 + i * w + 1, H - 14 - h, Math.max(1, w - 2), h);
  }
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  ctx.fillText(`KL per dimension (nats), max ${hi.toFixed(2)}`, 5, 11);
}

function drawGrid(ui, frame, n) {
  const ctx = ui.grid.getContext("2d"), img = ctx.createImageData(28 * n, 28 * n), p = frame.arrays.img;
  for (let c = 0; c < n * n; c++) {
    const gx = (c % n) * 28, gy = Math.floor(c / n) * 28;
    for (let i = 0; i < 784; i++) {
      const o = 4 * ((gy + Math.floor(i / 28)) * 28 * n + gx + (i % 28)), v = 255 - p[c * 784 + i];
      img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
      img.data[o + 3] = 255;
    }
  }
  ui.grid.width = ui.grid.height = 28 * n;
  ctx.putImageData(img, 0, 0);
}

function statusText(run, k, live) {
  const f = run.frames[k].meta, r = run.run.meta, total = r.epochs * r.steps_per_epoch;
  const first = run.frames[0].meta, rate = (f.step - first.step) / Math.max(f.t - first.t, 1e-6);
  const lastEpoch = [...run.epochs].reverse().find((e) => e.meta.step <= f.step);
  let text = `step ${f.step} of ${total} · epoch ${f.epoch.toFixed(2)} of ${r.epochs}`;
  if (f.loss !== undefined) text += ` · −ELBO ${f.loss.toFixed(1)} (recon. ${f.nll.toFixed(1)} + KL ${f.kl.toFixed(2)})`;
  if (lastEpoch) text += ` · test −ELBO ${lastEpoch.meta.test_neg_elbo.toFixed(2)} after epoch ${lastEpoch.meta.epoch}`;
  if (live) text += ` · ${rate.toFixed(0)} steps/s · ${Math.max(0, (total - f.step) / Math.max(rate, 1e-6)).toFixed(0)} s left`;
  else if (run.stop) text += run.stop.meta.reason === "finished" ? " · finished" : " · stopped (resumable)";
  return text;
}

// what changes only with the frame shown: the curves' cursor, KL per dim, the decodes, the status line
function drawSide(ui, run, k, live) {
  ui.shown = k; ui.shownFrames = run.frames.length;
  drawCurves(ui, run, k);
  drawKl(ui, run.frames[k]);
  const img = run.imageAt(k), at = img ? img.meta.step : "–";
  if (img) drawGrid(ui, img, run.run.meta.grid_n);
  ui.cap.textContent = run.run.meta.grid === "canvas" ? `Decoded on a mesh over ±2 (the seed's canvas), step ${at}`
    : `${run.run.meta.grid_n ** 2} fixed prior samples decoded, step ${at}`;
  ui.status.textContent = statusText(run, k, live);
  ui.status.dataset.step = String(run.frames[k].meta.step);
}

const views = new WeakMap(); // parentElement -> the view drawn there

export default function ({ data, parentElement, setStateValue }) {
  if (!data) return;
  let msg;
  try {
    msg = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
    if (msg.v !== VERSION) throw new Error(`message version ${msg.v}, this page reads ${VERSION}`);
  } catch (err) {
    return refuse(parentElement, "vae-train", "train-error", `train view: ${err.message}`);
  }
  const old = views.get(parentElement);
  if (old && old.h === msg.h && old.root.isConnected) { old.setLive(msg.live); return; }
  if (old) old.close();
  parentElement.querySelectorAll(".vae-train").forEach((n) => n.remove());
  views.set(parentElement, view(parentElement, msg, setStateValue));
}

// the frame shown next: played on at `speed` toward the end, or glided toward the newest frame (not a jump)
function advance(pos, target, dt, speed) {
  if (speed) return Math.min(target, pos + (dt / 1000) * PLAY_FPS * speed);
  if (pos === target) return pos;
  const next = pos + (target - pos) * Math.min(1, dt / GLIDE_MS);
  return Math.abs(target - next) < 0.01 ? target : next;
}

function view(parentElement, msg, setStateValue) {
  const ui = build(parentElement);
  let run = new Run();
  let pos = 0, target = 0, playing = false, follow = msg.live, live = msg.live, closed = false, timer = null;
  let last = performance.now(), drawn = null, waited = 0, scrubbing = false, loaded = false, startedSent = false, sawLive = false;
  const me = {
    h: msg.h, root: ui.root,
    setLive(v) {
      if (v && !live) { // resumed: fetched again from the start (a resume may cut back what a killed run wrote)
        live = follow = true; startedSent = sawLive = false; waited = 0; clearTimeout(timer);
        run = new Run(); poll();
      }
    },
    close() { closed = true; clearTimeout(timer); } };
  // what tests read: the frame shown and where each tracked digit is drawn, in canvas pixels
  ui.root.vaeTrain = { h: msg.h, frames: () => run.frames.length, pos: () => pos, drawn: () => drawn, frameCount: 0 };
  const fail = (text) => { ui.status.textContent = text; ui.status.classList.add("error"); };
  async function poll() {
    if (closed) return;
    try {
      const res = await fetch(`${msg.url}?h=${encodeURIComponent(msg.h)}&from=${run.offset}`, { cache: "no-store" });
      if (res.status === 404 && live && waited < 200) { waited++; timer = setTimeout(poll, POLL_MS); return; }
      if (!res.ok) return fail((await res.text()).slice(0, 200));
      run.take(await res.arrayBuffer());
      const stillLive = res.headers.get("X-Live") === "1";
      if (live && stillLive && !startedSent) { startedSent = true; setStateValue("started", { h: msg.h, at: Date.now() }); }
      if (run.frames.length) {
        ui.scrub.max = String(run.frames.length - 1);
        if (follow) target = run.frames.length - 1;
      }
      const more = res.headers.get("X-More") === "1";
      if (!live && !more && !loaded && run.frames.length) { loaded = true; pos = target = run.frames.length - 1; }
      if (stillLive) sawLive = true;
      if (more) timer = setTimeout(poll, 0);
      else if (stillLive || (live && !sawLive && waited++ < 200)) timer = setTimeout(poll, POLL_MS); // ~30 s to start
      else if (live) { live = false; follow = false; setStateValue("ended", { h: msg.h, at: Date.now() }); }
    } catch (err) {
      if (live) timer = setTimeout(poll, 1000);
      else fail(`the history could not be fetched: ${err.message}`);
    }
  }
  ui.play.addEventListener("click", () => {
    if (!run.frames.length) return;
    playing = !playing;
    follow = false;
    if (playing && pos >= run.frames.length - 1) pos = target = 0;
    ui.play.textContent = playing ? "❚❚ Pause" : "▶ Play";
  });
  ui.scrub.addEventListener("input", () => {
    scrubbing = true; playing = false; follow = false; ui.play.textContent = "▶ Play";
    pos = target = Math.min(Number(ui.scrub.value), run.frames.length - 1);
  });
  ui.scrub.addEventListener("change", () => { scrubbing = false; follow = live && Number(ui.scrub.value) >= run.frames.length - 1; });
  let drawnPos = null, drawnN = 0, drawnAt = -1e9;
  function frame(now) {
    if (closed || !ui.root.isConnected) { me.close(); return; }
    const dt = Math.min(now - last, 100);
    last = now;
    const n = run.frames.length;
    if (n) {
      if (playing || !scrubbing) pos = advance(pos, playing ? n - 1 : target, dt, playing && Number(ui.speed.value));
      if (playing) {
        if (pos >= n - 1) { playing = false; ui.play.textContent = "▶ Play"; }
        target = pos;
      }
      const gliding = !playing && !scrubbing && pos !== target;
      if ((pos !== drawnPos || n !== drawnN) && (!gliding || now - drawnAt >= 1000 / GLIDE_FPS)) {
        drawn = drawMap(ui, run, pos, msg.colors); // a still map is not redrawn
        ui.root.vaeTrain.frameCount++;
        drawnPos = pos; drawnN = n; drawnAt = now;
        if (!scrubbing) ui.scrub.value = String(pos);
      }
      const kr = Math.round(pos);
      if (ui.shown !== kr || ui.shownFrames !== n) drawSide(ui, run, kr, live && follow);
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
  poll();
  return me;
}
