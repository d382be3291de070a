// The drawing's nearest test digits (explorer/panels/your_digit.py): a row of thumbnails, each a
// button that selects its digit as a click on the map would.
// Data in: JSON {v, items: [{i, label, src}]}. State out: {pick: {i, at}}; a new `at` is a new pick.
import { el, refuse } from "./dom.js";

const VERSION = 1;

export default function ({ data, parentElement, setStateValue }) {
  if (!data) return;
  const msg = JSON.parse(new TextDecoder().decode(data));
  parentElement.querySelectorAll(".vae-near").forEach((n) => n.remove());
  if (msg.v !== VERSION) {
    refuse(parentElement, "vae-near", "near-error", `nearest digits: message version ${msg.v}, this page reads ${VERSION}`);
    return;
  }
  const row = el("div", { class: "vae-near" }, parentElement);
  for (const item of msg.items) {
    const b = el("button", { type: "button", title: `test digit #${item.i}`, "data-testid": `near-${item.i}` }, row);
    el("img", { src: item.src, alt: item.label }, b);
    el("span", { text: item.label }, b);
    b.addEventListener("click", () => setStateValue("pick", { i: item.i, at: Date.now() }));
  }
}
