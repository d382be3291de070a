// The view's link (explorer/link.py; format "link v1" in docs/page-protocol.md): the query string
// Python wants in the address bar, put there with history.replaceState. Not st.query_params: that
// makes Streamlit's page re-render everything (~5 ms on each slider release) and push a history
// entry per move, so Back walked through slider positions instead of leaving the app.
// The message comes as this element's data on the page's runs, and as the "link" part of the decoder
// fragment's post (post.js) when z moves: this element is not in that fragment.
import { onPosted } from "./posts.js";

const VERSION = 1;
let held = -Infinity; // seq of the message in the address bar: an older one (the element mounting after a
// newer post, or called again with its old data) is not news

function take(msg) {
  if (!msg || msg.v !== VERSION || typeof msg.query !== "string") {
    console.error(`vae link: cannot read this message (need version ${VERSION}); the address bar is left as it is`);
    return;
  }
  const seq = msg.seq || 0;
  if (seq < held) return;
  held = seq;
  const want = msg.query ? `?${msg.query}` : "";
  if (window.location.search !== want) {
    window.history.replaceState(window.history.state, "", window.location.pathname + want + window.location.hash);
  }
}

export default function ({ data }) {
  const abort = new AbortController();
  onPosted("link", take, abort.signal); // and the one posted before this mounted
  if (data && data.length) {
    let msg = null;
    try {
      msg = JSON.parse(new TextDecoder().decode(data));
    } catch (e) {
      msg = null;
    }
    take(msg);
  }
  return () => abort.abort();
}
