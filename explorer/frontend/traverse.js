// The Traverse view (explorer/panels/traverse.py): one row per latent dimension, sorted by the KL it
// carries, each column the base point with that one dimension set to a value; decoded here with the
// page's decoder, or drawn from a grid the server decoded (`image`) when the page decodes nothing.
// Data in: b"VAET" + JSON {v, model, base: [D], rows: [{dim, kl, active}], values: [[n] per row],
// ticks: [n], fold_after, follows, image?}. State out: {pick: {z, at}} (a clicked cell; a new `at`
// is a new pick), {want: model} when the page holds no decoder for the model yet (backend sends it
// then). When the base `follows` the decoder's z, a click re-centres the grid here at once (the
// server's next message says the same and is then not drawn again).
import { el, refuse } from "./dom.js";
import { decoderFor } from "./nn.js";
import { vae, DECODER } from "./shared.js";

const MAGIC = "VAET", VERSION = 1, CELL = 56; // px per decoded digit (28 x 2, nearest neighbour)

function read(data) {
  const text = new TextDecoder().decode(data);
  if (!text.startsWith(MAGIC)) throw new Error("not a traversal message");
  const msg = JSON.parse(text.slice(MAGIC.length));
  if (msg.v !== VERSION) throw new Error(`message version ${msg.v}, this page reads ${VERSION}`);
  return msg;
}

const shown = new WeakMap(); // parentElement -> the signature of the grid drawn there

// what a message draws: equal signatures draw the same pixels
const signature = (msg) => JSON.stringify([msg.model, msg.base, msg.rows, msg.values, msg.image || ""]);

export default function ({ data, parentElement, setStateValue }) {
  if (!data) return;
  let msg;
  try { msg = read(data); } catch (err) {
    parentElement.querySelectorAll(".vae-traverse").forEach((n) => n.remove());
    shown.delete(parentElement);
    return refuse(parentElement, "vae-traverse", "traverse-error", `traversal: ${err.message}`);
  }
  if (shown.get(parentElement) === signature(msg) && parentElement.querySelector(".vae-traverse")) return;
  parentElement.querySelectorAll(".vae-traverse").forEach((n) => n.remove());
  const ui = build(parentElement, msg);
  const abort = new AbortController();
  const pick = (r, c) => {
    const z = cellZ(msg, r, c);
    setStateValue("pick", { z, at: Date.now() });
    if (msg.follows && !msg.image) { // the base is the decoder's z, which moves here: redraw now
      msg.base = z;
      paintDecoded(ui, msg);
      shown.set(parentElement, signature(msg));
    }
  };
  ui.rows.forEach((row, r) => row.canvas.addEventListener("click", (ev) => {
    const box = row.canvas.getBoundingClientRect();
    pick(r, Math.min(msg.ticks.length - 1, Math.floor(((ev.clientX - box.left) / box.width) * msg.ticks.length)));
  }, { signal: abort.signal }));
  ui.download.addEventListener("click", () => download(ui, msg), { signal: abort.signal });
  const paint = () => {
    if (msg.image) paintImage(ui, msg);
    else paintDecoded(ui, msg);
    shown.set(parentElement, signature(msg));
  };
  if (msg.image || decoderFor(msg.model)) paint();
  else {
    ui.status.textContent = "Loading the decoder…";
    window.addEventListener(DECODER, (ev) => { if (ev.detail === msg.model) paint(); }, { signal: abort.signal });
    // asked once the page is idle: a rerun asked for while the first run is still being drawn can make
    // Streamlit drop widget values the link set (the picker's and the view switcher's are guarded)
    const ask = () => setStateValue("want", msg.model);
    if (window.requestIdleCallback) requestIdleCallback(ask, { timeout: 2000 }); else setTimeout(ask, 500);
  }
  return () => abort.abort();
}

// the base point with row r's dimension set to column c's value
function cellZ(msg, r, c) {
  const z = msg.base.slice();
  z[msg.rows[r].dim] = msg.values[r][c];
  return z.map((v) => Math.round(v * 1000) / 1000);
}

// a header of column values, a row (label, canvas) per dimension, those past fold_after folded away
function build(parentElement, msg) {
  const n = msg.ticks.length;
  const root = el("div", { class: "vae-traverse", "data-testid": "traverse" }, parentElement);
  const bar = el("div", { class: "bar" }, root);
  const status = el("span", { class: "status", "data-testid": "traverse-status" }, bar);
  const download = el("button", { type: "button", class: "download", text: "Download PNG" }, bar);
  let box = el("div", { class: "rows" }, root);
  const head = el("div", { class: "row head" }, box);
  el("span", { class: "label", text: "value" }, head);
  const ticks = el("div", { class: "ticks", style: `width:${n * CELL}px` }, head);
  msg.ticks.forEach((t) => el("span", { text: (t > 0 ? "+" : "") + t.toFixed(1) }, ticks));
  const rows = msg.rows.map((row, r) => {
    if (r === msg.fold_after) {
      const more = el("details", { class: "more" }, root);
      el("summary", { text: `${msg.rows.length - r} more dimensions, less KL` }, more);
      box = el("div", { class: "rows" }, more);
    }
    const line = el("div", { class: "row" + (row.active ? "" : " inactive") }, box);
    el("span", { class: "label", title: row.active ? "active" : "inactive: the encoder does not use it",
      text: `z${row.dim} · ${row.kl.toFixed(2)}${row.active ? "" : " · off"}` }, line);
    const canvas = el("canvas", { width: n * 28, height: 28, "data-testid": `traverse-z${row.dim}`,
      style: `width:${n * CELL}px;height:${CELL}px`, title: "Click a cell to move the decoder there" }, line);
    return { canvas, dim: row.dim };
  });
  return { root, status, download, rows };
}

// every cell decoded in the page; what it drew is kept for tests and bench/ (vae.traverse)
function paintDecoded(ui, msg) {
  const decode = decoderFor(msg.model), n = msg.ticks.length;
  const t0 = performance.now(), out = new Float32Array(784);
  const pixels = new Float32Array(msg.rows.length * n * 784);
  ui.rows.forEach((row, r) => {
    const ctx = row.canvas.getContext("2d"), image = ctx.createImageData(n * 28, 28);
    for (let c = 0; c < n; c++) {
      decode(Float32Array.from(cellZ(msg, r, c)), out);
      pixels.set(out, (r * n + c) * 784);
      for (let p = 0; p < 784; p++) {
        const q = 4 * ((p / 28 | 0) * n * 28 + c * 28 + (p % 28)), v = Math.round(out[p] * 255);
        image.data[q] = image.data[q + 1] = image.data[q + 2] = v;
        image.data[q + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
  });
  done(ui, msg, performance.now() - t0, "decoded in your browser", pixels);
}

// the server's grid (rows of n cells, one PNG), cut into the rows
function paintImage(ui, msg) {
  const t0 = performance.now(), img = new Image();
  img.onload = () => {
    ui.rows.forEach((row, r) => row.canvas.getContext("2d").drawImage(img, 0, r * 28, img.width, 28, 0, 0,
      row.canvas.width, 28));
    done(ui, msg, performance.now() - t0, "decoded on the server", null);
  };
  img.src = msg.image;
}

function done(ui, msg, ms, how, pixels) {
  const cells = msg.rows.length * msg.ticks.length;
  ui.status.textContent = `${msg.rows.length} dimensions × ${msg.ticks.length} values · ${how} in ${ms.toFixed(0)} ms`;
  const perf = (vae.traverse ||= { draws: 0 });
  Object.assign(perf, { draws: perf.draws + 1, ms, cells, pixels, msg, at: performance.now() });
}

// the whole grid (folded rows too) as one PNG, with a row of labels
function download(ui, msg) {
  const n = msg.ticks.length, label = 90;
  const out = el("canvas", { width: label + n * 28 * 2, height: ui.rows.length * 56 });
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#333";
  ctx.font = "13px sans-serif";
  ui.rows.forEach((row, r) => {
    ctx.fillText(`z${row.dim}`, 8, r * 56 + 32);
    ctx.drawImage(row.canvas, label, r * 56, n * 56, 56);
  });
  out.toBlob((blob) => {
    const a = el("a", { href: URL.createObjectURL(blob), download: `traversal_${msg.model.split("@")[0].replace(/\W+/g, "_")}.png` });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
}
