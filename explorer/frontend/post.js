// The decoder fragment's post (explorer/panels/decoder.py, "post v1" in docs/page-protocol.md), as
// it arrives: kept in vae.post for code that mounts later and announced in a POSTED event; its
// receivers read it (posts.js). This code goes to the page with every post, so it does no more.
import { vae, POSTED } from "./shared.js";

export default function ({ data }) {
  vae.post = data;
  window.dispatchEvent(new CustomEvent(POSTED, { detail: data }));
}
