// What the page takes from Streamlit and Plotly without a public API, in one place (the list is in
// docs/page-protocol.md). Each is checked when an element first needs it; one that is missing is
// reported once, in the console and in a note under the map, and only the feature that needs it
// turns off: the map itself is Streamlit's own chart and keeps working.
import { vae } from "./shared.js";

const BORROWED = {
  keyClass: "the st-key-<key> class Streamlit puts on a keyed element",
  graphDiv: "the chart's graph div (gd.on, gd.layout, gd._fullLayout, gd._fullData)",
  plotly: "window.Plotly.relayout",
};
export const borrowed = (vae.borrowed ||= { ok: new Set(), broken: new Map() }); // ok: features on; broken: feature -> what it said

// the keyed Plotly chart, or null while it is not (yet) in the page
export function chartByKey(key) {
  return document.querySelector(`.st-key-${key} .js-plotly-plot`);
}

// what `gd` lacks of the graph div and Plotly details the map's helpers use
export function missingOn(gd) {
  const missing = [];
  if (typeof gd.on !== "function" || !gd.layout || !gd._fullLayout || !gd._fullData) missing.push(BORROWED.graphDiv);
  if (!window.Plotly || typeof window.Plotly.relayout !== "function") missing.push(BORROWED.plotly);
  return missing;
}

function reportBroken(feature, missing) {
  const text = `${feature} is off: this version of Streamlit or Plotly no longer provides ${missing.join("; ")}.`;
  if (borrowed.broken.has(feature)) return;
  borrowed.broken.set(feature, text);
  console.error(text);
  const anyChart = document.querySelector(".js-plotly-plot");
  const note = document.createElement("div");
  note.setAttribute("data-testid", "vae-borrowed-note");
  note.textContent = text;
  Object.assign(note.style, { color: "#8a5300", fontSize: "12px", padding: "4px 0" });
  if (anyChart && anyChart.parentElement) anyChart.parentElement.appendChild(note);
  else {
    Object.assign(note.style, { position: "fixed", left: "8px", bottom: "8px", zIndex: 1000, background: "#fff8e6" });
    document.body.appendChild(note);
  }
}

// call use(gd) once the keyed chart is in the page with everything `feature` needs; report it broken
// if the chart has not appeared under its key after `patienceMs` while some Plotly chart has.
// Returns a function that stops waiting.
export function withChart(key, feature, use, patienceMs = vae.borrowedPatienceMs || 15000) {
  const started = performance.now();
  let raf = 0, slow = 0, stopped = false;
  const look = () => {
    raf = 0;
    if (stopped || borrowed.broken.has(feature)) return;
    const late = performance.now() - started > patienceMs;
    const gd = chartByKey(key);
    if (gd) {
      const missing = missingOn(gd);
      if (!missing.length) { borrowed.ok.add(feature); use(gd); return; }
      if (late) { reportBroken(feature, missing); return; } // (a chart still mounting lacks them briefly)
    } else if (late && document.querySelector(".js-plotly-plot")) {
      reportBroken(feature, [BORROWED.keyClass]);
      return;
    } else if (late) { // no chart in the page yet (plotly.js still loading on a slow machine): look less often
      slow = setTimeout(look, 250);
      return;
    }
    raf = requestAnimationFrame(look); // the chart may still be mounting
  };
  look();
  return () => { stopped = true; if (raf) cancelAnimationFrame(raf); clearTimeout(slow); };
}
