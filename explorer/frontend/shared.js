// What the page's components share, defined here only. Each component's module is its own copy of
// the files it imports (explorer/backend/bundle.py), so what they share lives in one object on
// window, found by whichever module loads first, and the events they send each other are named here.
//
// Fields of window.__vae, each made and written by one file (the others read):
//   post       post.js: the decoder fragment's last post, as it came (posts.js reads it)
//   refusedPost  posts.js: the last post this page could not read (said once, not by each receiver)
//   nets       nn.js: in-page decoders by checkpoint ident (live.js registers one, draw.js borrows it)
//   encoders   encoder.js: in-page encoders by checkpoint ident ("*": a blob too broken to name one)
//   drawn      draw.js: the user's own digit {model, mu, logvar, map} while its panel is open, else null
//   borrowed   borrowed.js: the borrowed details checked so far {ok, broken}
// and, for tests and bench/, what a panel did: live (live.js), draw (draw.js), mapPreview
// (map_preview.js), preloaded (preload.js); borrowedPatienceMs, when set, overrides borrowed.js's wait.
//
// Only one-line `export const`s: a component takes just the lines it imports (the post's code goes
// to the page with every post, so it stays small).
export const vae = (window.__vae ||= {});
export const POSTED = "vae-post"; // the post's bytes: the decoder fragment posted (post.js)
export const DRAWN = "vae-drawn"; // the user's digit moved (vae.drawn)
export const DECODER = "vae-decoder"; // model ident: an in-page decoder for it is in vae.nets
export const ENCODER = "vae-encoder"; // model ident: an in-page encoder for it is in vae.encoders
