// An invisible, empty component drawn before the app's imports (explorer/panels/preload.py), so that
// Streamlit's component code is already in the page when the live decoder and the map's preview come.
import { vae } from "./shared.js";

export default function () {
  vae.preloaded = true;
}
