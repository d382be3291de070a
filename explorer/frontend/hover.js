// Hover thumbnails for the latent map: the test images arrive once as a PNG atlas (`cols` digits a
// row, in test-index order; the constants come from hover.py in each message's header); hovering a point draws that digit in a small box by the pointer.
// The page asks for it once the map is drawn and the page idle (state "want") and says when it holds it (state "have"), so the
// atlas neither delays a cold start nor rides along on every rerun.

import { borrowed, chartByKey, missingOn, withChart } from "./borrowed.js";

const VERSION = 1, SIZE = 28, SHOWN = 84;
const FEATURE = "Hover thumbnails";
let atlas = null, atlasFor = null; // the loaded atlas and its dataset, kept across reruns
let cols = 0, mapKey = null; // from Python, in every message's header
let wanted = null; // asks Python for the atlas: sent once the map is drawn and the page is idle
const pointer = { x: 0, y: 0 };
const hooked = new WeakSet(); // charts whose hover events show the thumbnail

// data: a 4-byte tag, then a JSON header {v, dataset, cols, map_key}; "ATLS" adds "\n" + PNG bytes.
// WANT: ask for the atlas when idle; HAVE: Python thinks we hold it; ATLS: here it is.
function receive(bytes, setStateValue) {
  const tag = new TextDecoder().decode(bytes.subarray(0, 4));
  const end = tag === "ATLS" ? bytes.indexOf(10, 4) : bytes.length;
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, end)));
  if (header.v !== VERSION) throw new Error(`hover thumbnails: message version ${header.v}, this page reads ${VERSION}`);
  cols = header.cols;
  mapKey = header.map_key;
  const dataset = header.dataset;
  if (tag === "WANT" || tag === "HAVE") {
    if (atlasFor === dataset) return;
    if (tag === "HAVE") setStateValue("have", null); // Python thinks we hold it; we do not (a reload)
    wanted = () => setStateValue("want", dataset); // asked once the map is drawn (askWhenIdle)
    return;
  }
  if (tag !== "ATLS") throw new Error(`hover thumbnails: unknown message "${tag}"`);
  if (atlasFor === dataset) { setStateValue("have", dataset); return; }
  const img = new Image();
  img.onload = () => {
    URL.revokeObjectURL(img.src);
    atlas = img;
    atlasFor = dataset;
    setStateValue("have", dataset); // from now on Python sends "HAVE" instead of the atlas
  };
  img.src = URL.createObjectURL(new Blob([bytes.subarray(end + 1)], { type: "image/png" }));
}

function tip() {
  let c = document.getElementById("vae-hover-thumb");
  if (!c) {
    c = document.createElement("canvas");
    c.id = "vae-hover-thumb";
    c.width = c.height = SIZE;
    Object.assign(c.style, {
      position: "fixed", width: `${SHOWN}px`, height: `${SHOWN}px`, imageRendering: "pixelated",
      pointerEvents: "none", zIndex: 1000, display: "none", border: "2px solid #fff", borderRadius: "4px",
      boxShadow: "0 1px 6px rgba(0,0,0,0.35)", background: "#000",
    });
    document.body.appendChild(c);
    document.addEventListener("pointermove", (e) => { pointer.x = e.clientX; pointer.y = e.clientY; }, { passive: true });
  }
  return c;
}

function show(index) {
  if (!atlas || !(index >= 0)) return;
  const c = tip();
  c.getContext("2d").drawImage(atlas, (index % cols) * SIZE, Math.floor(index / cols) * SIZE, SIZE, SIZE,
    0, 0, SIZE, SIZE);
  c.dataset.index = String(index);
  // above-left of the pointer: plotly's own label sits to the side of the point
  c.style.left = `${Math.max(4, pointer.x - SHOWN - 16)}px`;
  c.style.top = `${Math.max(4, pointer.y - SHOWN - 16)}px`;
  c.style.display = "block";
}

// the request reruns the script and its answer is 1.9 MB: on a cold start it would compete with
// plotly.js for the page's main thread and the server's CPU, so it waits for the drawn map
function askWhenIdle() {
  const ask = wanted;
  wanted = null;
  if (!ask) return;
  if (window.requestIdleCallback) requestIdleCallback(ask, { timeout: 3000 }); else setTimeout(ask, 1000);
}

function hook(gd) {
  if (!gd || hooked.has(gd) || missingOn(gd).length) return;
  hooked.add(gd);
  tip();
  gd.on("plotly_hover", (ev) => {
    const p = ev && ev.points && ev.points.find((q) => q.customdata !== undefined);
    if (p) show(Number(p.customdata));
  });
  gd.on("plotly_unhover", () => { tip().style.display = "none"; });
}

export default function ({ data, setStateValue, parentElement }) {
  if (!data || !data.length) return;
  try {
    receive(data, setStateValue);
  } catch (err) {
    console.error(err.message); // an invisible helper: the console is where it can say so
    return;
  }
  // checked once; reported if the chart cannot be used
  const stop = withChart(mapKey, FEATURE, (gd) => { hook(gd); askWhenIdle(); });
  // the chart mounts again when its spec changes; stop once this element is gone
  const timer = setInterval(() => {
    if (!parentElement.isConnected) clearInterval(timer);
    else if (borrowed.ok.has(FEATURE)) hook(chartByKey(mapKey));
  }, 500);
  return () => { stop(); clearInterval(timer); };
}
