// The "Your digit" panel is closed: no marker for a drawing nobody sees (map_overlays.js, live.js).
import { vae, DRAWN } from "./shared.js";

export default function () {
  vae.drawn = null;
  window.dispatchEvent(new CustomEvent(DRAWN, { detail: null }));
}
