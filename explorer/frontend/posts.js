// Receiving the decoder fragment's post (explorer/post.py, format "post v1"): its code leaves each
// part in window.__vaePosts[name] and announces it in a "vae-post" event. A receiver may mount before
// or after a post, so it takes the part already posted and each one posted later; each part carries
// its own seq, by which the receiver keeps only what is not older than what it holds.

// the part of `name` last posted, or undefined
function posted(name) {
  return (window.__vaePosts || {})[name];
}

// take(part) for the part of `name` already posted, if any, then for each one posted, until `signal` aborts
function onPosted(name, take, signal) {
  window.addEventListener("vae-post", (ev) => { if (ev.detail.name === name) take(ev.detail.part); }, { signal });
  const part = posted(name);
  if (part !== undefined) take(part);
}
