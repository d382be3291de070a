// Receiving the decoder fragment's post (format "post v1", docs/page-protocol.md): b"VAEP" + JSON
// {v: 1, parts: {name: part}}, relayed as it came by post.js (vae.post and a POSTED event). A
// receiver may mount before or after a post, so it takes the part already posted and each one posted
// later; each part carries its own seq, by which the receiver keeps only what is not older than what
// it holds.
import { vae, POSTED } from "./shared.js";

const MAGIC = "VAEP", VERSION = 1;
const read = new WeakMap(); // post -> its parts, or null for one refused

// the parts of a post, or null (said once in the console) for one this page cannot read
function partsOf(data) {
  if (read.has(data)) return read.get(data);
  let m = null;
  try {
    const text = new TextDecoder().decode(data);
    m = text.startsWith(MAGIC) ? JSON.parse(text.slice(MAGIC.length)) : null;
  } catch (e) { m = null; }
  const parts = m && m.v === VERSION && m.parts instanceof Object ? m.parts : null;
  if (!parts && vae.refusedPost !== data) {
    vae.refusedPost = data;
    console.error(`vae post: cannot read this message (need ${MAGIC} version ${VERSION})`);
  }
  read.set(data, parts);
  return parts;
}

// the part of `name` last posted, or undefined
export function posted(name) {
  return vae.post ? (partsOf(vae.post) || {})[name] : undefined;
}

// take(part) for the part of `name` already posted, if any, then for each one posted, until `signal` aborts
export function onPosted(name, take, signal) {
  window.addEventListener(POSTED, (ev) => {
    const part = (partsOf(ev.detail) || {})[name];
    if (part !== undefined) take(part);
  }, { signal });
  const part = posted(name);
  if (part !== undefined) take(part);
}
