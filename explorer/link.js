// The view's link (explorer/link.py; format "link v1" in docs/page-protocol.md): the query string
// Python wants in the address bar, put there with history.replaceState. Not st.query_params: that
// makes Streamlit's page re-render everything (~5 ms on each slider release) and push a history
// entry per move, so Back walked through slider positions instead of leaving the app.
const MAGIC = "VAEL", VERSION = 1;
const seen = (window.__vaeLinkSeen = window.__vaeLinkSeen || new Map()); // element key -> last message

export default function ({ data, key }) {
  if (!data || !data.length) return;
  const text = new TextDecoder().decode(data);
  // a re-render with the message this element already applied is not news: the link may have moved
  // on since (the decoder's fragment reran alone), and an older element must not take it back
  if (seen.get(key) === text) return;
  seen.set(key, text);
  let msg = null;
  try {
    msg = text.startsWith(MAGIC) ? JSON.parse(text.slice(MAGIC.length)) : null;
  } catch (e) {
    msg = null;
  }
  if (!msg || msg.v !== VERSION || typeof msg.query !== "string") {
    console.error(`vae link: cannot read this message (need ${MAGIC} version ${VERSION}); the address bar is left as it is`);
    return;
  }
  const want = msg.query ? `?${msg.query}` : "";
  if (window.location.search !== want) {
    window.history.replaceState(window.history.state, "", window.location.pathname + want + window.location.hash);
  }
}
