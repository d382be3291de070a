// A person's digit as the model sees it: the steps of explorer/prep.py (whose docstring is the
// recipe), for the drawing canvas. The constants come from Python in the encoder blob's header.
// prepare(rgba Uint8(Clamped)Array, width, height, c) -> Uint8Array(c.size^2), or throws an Error
// whose message is the one line to show (the same words as prep.py).

function greyFromRgba(rgba, n) {
  const grey = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const r = rgba[4 * p], g = rgba[4 * p + 1], b = rgba[4 * p + 2], a = rgba[4 * p + 3];
    const lum = (r * 19595 + g * 38470 + b * 7471 + 32768) >>> 16;
    grey[p] = Math.floor((lum * a + 255 * (255 - a) + 127) / 255);
  }
  return grey;
}

// row o of the [nOut, nIn] weights, kept as its nonzero run: {from, w: weights of inputs from, from + 1, ...}
function areaWeights(nIn, nOut) {
  const scale = nIn / nOut, M = [];
  for (let o = 0; o < nOut; o++) {
    const a = o * scale, b = (o + 1) * scale, from = Math.floor(a), to = Math.min(Math.ceil(b), nIn);
    const w = new Float64Array(to - from);
    for (let i = from; i < to; i++) w[i - from] = (Math.min(b, i + 1) - Math.max(a, i)) / scale;
    M.push({ from, w });
  }
  return M;
}

function prepareGrey(grey, W, H, c) {
  if (!W || !H) throw new Error("The image has no pixels.");
  const border = [];
  for (let x = 0; x < W; x++) border.push(grey[x]);
  for (let x = 0; x < W; x++) border.push(grey[(H - 1) * W + x]);
  for (let y = 1; y < H - 1; y++) border.push(grey[y * W]);
  for (let y = 1; y < H - 1; y++) border.push(grey[y * W + W - 1]);
  let sum = 0;
  for (const v of border) sum += v;
  const invert = sum * 2 > 255 * border.length;
  const levels = invert ? border.map((v) => 255 - v) : border;
  levels.sort((a, b) => a - b);
  const bg = levels[Math.floor((levels.length - 1) / 2)];
  let lo = 255, hiRaw = 0;
  for (let p = 0; p < W * H; p++) { if (grey[p] < lo) lo = grey[p]; if (grey[p] > hiRaw) hiRaw = grey[p]; }
  const hi = invert ? 255 - lo : hiRaw;
  if (hi - bg < c.flat) throw new Error("The image is one flat colour (blank, or all ink): there is no digit to find.");
  const threshold = c.ink * (hi - bg);
  const level = (p) => (invert ? 255 - grey[p] : grey[p]) - bg;
  let y0 = H, y1 = -1, x0 = W, x1 = -1, nInk = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (level(y * W + x) > threshold) {
        nInk++;
        if (y < y0) y0 = y; if (y > y1) y1 = y; if (x < x0) x0 = x; if (x > x1) x1 = x;
      }
    }
  }
  if (nInk > c.mostly_ink * H * W) {
    throw new Error(`Most of the image is ink (${Math.floor((100 * nInk) / (H * W) + 0.5)}%): draw or upload a digit on a plain background.`);
  }
  y1 += 1; x1 += 1;
  const h = y1 - y0, w = x1 - x0, s = c.box / Math.max(h, w);
  const h2 = Math.max(1, Math.floor(h * s + 0.5)), w2 = Math.max(1, Math.floor(w * s + 0.5));
  const My = areaWeights(h, h2), Mx = areaWeights(w, w2);
  // box = My @ v @ Mx^T, v = clip(level / (hi - bg), 0, 1) over the crop
  const span = hi - bg, v = new Float64Array(w), rowsMx = new Float64Array(h * w2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) v[x] = Math.min(1, Math.max(0, level((y + y0) * W + x + x0) / span));
    for (let o = 0; o < w2; o++) {
      const { from, w: m } = Mx[o];
      let acc = 0;
      for (let k = 0; k < m.length; k++) acc += v[from + k] * m[k];
      rowsMx[y * w2 + o] = acc;
    }
  }
  const box = new Float64Array(h2 * w2);
  for (let o = 0; o < h2; o++) {
    const { from, w: m } = My[o];
    for (let k = 0; k < m.length; k++) {
      for (let x = 0; x < w2; x++) box[o * w2 + x] += m[k] * rowsMx[(from + k) * w2 + x];
    }
  }
  let mass = 0, my = 0, mx = 0;
  for (let y = 0; y < h2; y++) {
    for (let x = 0; x < w2; x++) { const v = box[y * w2 + x]; mass += v; my += (y + 0.5) * v; mx += (x + 0.5) * v; }
  }
  const N = c.size;
  const top = Math.min(Math.max(Math.floor(N / 2 - my / mass + 0.5 + c.tie), 0), N - h2);
  const left = Math.min(Math.max(Math.floor(N / 2 - mx / mass + 0.5 + c.tie), 0), N - w2);
  const out = new Uint8Array(N * N);
  for (let y = 0; y < h2; y++) {
    for (let x = 0; x < w2; x++) {
      out[(top + y) * N + left + x] = Math.floor(Math.min(1, Math.max(0, box[y * w2 + x])) * 255 + 0.5);
    }
  }
  return out;
}

export function prepare(rgba, W, H, c) {
  return prepareGrey(greyFromRgba(rgba, W * H), W, H, c);
}
