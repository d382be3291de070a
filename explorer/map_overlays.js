// Moves the latent map's overlay traces (decoder point, ellipse, A-B paths) with Plotly.restyle,
// so the chart's spec, and with it the chart itself (zoom, pan, selection), stays put on reruns.

function findMap() {
  return document.querySelector(".st-key-map .js-plotly-plot");
}

function apply(gd, overlays) {
  if (!window.Plotly || !gd || !gd.data) return false;
  const names = Object.keys(overlays);
  const idx = names.map((n) => gd.data.findIndex((t) => t.name === n));
  if (idx.some((i) => i < 0)) return false;
  const same = names.every((n, k) => JSON.stringify([Array.from(gd.data[idx[k]].x || []),
    Array.from(gd.data[idx[k]].y || [])]) === JSON.stringify([overlays[n].x, overlays[n].y]));
  if (same) return true;
  window.Plotly.restyle(gd, {
    x: names.map((n) => overlays[n].x),
    y: names.map((n) => overlays[n].y),
    text: names.map((n) => overlays[n].text || []),
  }, idx);
  return true;
}

export default function ({ data }) {
  const overlays = data || {};
  let tries = 0, raf = 0;
  const sync = () => {
    raf = 0;
    const gd = findMap();
    if (gd) {
      gd.__vaeOverlays = overlays; // the latest wish, re-applied after any redraw of the chart
      if (!gd.__vaeSynced) {
        gd.__vaeSynced = true;
        gd.on("plotly_afterplot", () => apply(gd, gd.__vaeOverlays));
      }
      if (apply(gd, overlays)) return;
    }
    if (tries++ < 600) raf = requestAnimationFrame(sync); // the chart may still be mounting
  };
  // after the rest of this rerun has painted: redrawing 10k WebGL points must not hold up the new digit
  const idle = window.requestIdleCallback ? requestIdleCallback(sync, { timeout: 250 }) : setTimeout(sync, 50);
  return () => {
    if (raf) cancelAnimationFrame(raf);
    (window.cancelIdleCallback || clearTimeout)(idle);
  };
}
