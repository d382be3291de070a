// The network steps the page runs, for live.js (decoder), encoder.js and draw.js (encoder): reads the
// weights blob (docs/page-protocol.md, written by explorer/backend/weights.py) and runs its steps in
// float32 like torch.
import { vae, DECODER } from "./shared.js";

const BLOB_MAGIC = "VAEW";
const BLOB_VERSION = 1;
const OPS = new Set(["linear", "conv", "convT"]);

// header of a weights blob and where its floats start; throws (with a message for the panel) on
// another format, version or op
export function readHeader(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== BLOB_MAGIC) throw new Error("not a weights blob");
  const headerLen = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  if (header.version !== BLOB_VERSION) {
    throw new Error(`weights format version ${header.version}, this page reads ${BLOB_VERSION}`);
  }
  const unknown = [...header.layers, ...(header.decoder || [])].map((l) => l.op).filter((op) => !OPS.has(op));
  if (unknown.length) throw new Error(`unknown layer op "${unknown[0]}"`);
  return { header, start: 8 + headerLen };
}

// the blob's float32 payload, copied so the views are 4-byte aligned whatever the blob's offset
export function readFloats(bytes, header, start) {
  return new Float32Array(bytes.slice(start, start + header.n_floats * 4).buffer);
}

// a runnable net from a blob's list of steps: {layers, run(input) -> output Float32Array}
export function buildNet(steps, floats, inputSize) {
  const slice = (off, n) => floats.subarray(off, off + n);
  let widest = inputSize;
  const layers = steps.map((l) => {
    if (l.op === "linear") {
      widest = Math.max(widest, l.in, l.out);
      return { ...l, size: l.out, W: slice(l.w, l.in * l.out), b: slice(l.b, l.out) };
    }
    const hout = l.op === "convT" ? (l.hin - 1) * l.stride - 2 * l.pad + l.k + l.outpad
      : Math.floor((l.hin + 2 * l.pad - l.k) / l.stride) + 1;
    const wout = l.op === "convT" ? (l.win - 1) * l.stride - 2 * l.pad + l.k + l.outpad
      : Math.floor((l.win + 2 * l.pad - l.k) / l.stride) + 1;
    widest = Math.max(widest, l.cin * l.hin * l.win, l.cout * hout * wout);
    return { ...l, hout, wout, size: l.cout * hout * wout, W: slice(l.w, l.cin * l.cout * l.k * l.k), b: slice(l.b, l.cout) };
  });
  const bufA = new Float32Array(widest), bufB = new Float32Array(widest), acc = new Float64Array(widest);
  return {
    layers,
    outSize: layers[layers.length - 1].size,
    // input: array-like of inputSize; returns a view valid until the next run
    run(input) {
      let x = bufA, y = bufB;
      x.set(input);
      for (const layer of layers) {
        if (layer.op === "linear") linear(layer, x, y);
        else if (layer.op === "conv") conv(layer, x, y, acc);
        else convTranspose(layer, x, y, acc);
        [x, y] = [y, x];
      }
      return x.subarray(0, layers[layers.length - 1].size);
    },
  };
}

function linear(l, input, output) {
  const { in: nIn, out: nOut, W, b, relu } = l;
  for (let o = 0; o < nOut; o++) {
    let acc = 0;
    const row = o * nIn;
    for (let i = 0; i < nIn; i++) acc += W[row + i] * input[i];
    acc += b[o];
    output[o] = relu && acc < 0 ? 0 : acc;
  }
}

// Conv2d, torch's weight layout [c_out, c_in, k, k]
function conv(l, input, output, acc) {
  const { cin, hin, win, cout, hout, wout, k, stride, pad, W, b, relu } = l;
  for (let co = 0; co < cout; co++) {
    for (let oy = 0; oy < hout; oy++) {
      for (let ox = 0; ox < wout; ox++) {
        let s = b[co];
        for (let ci = 0; ci < cin; ci++) {
          const wBase = (co * cin + ci) * k * k, iBase = ci * hin * win;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= hin) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * stride - pad + kx;
              if (ix >= 0 && ix < win) s += W[wBase + ky * k + kx] * input[iBase + iy * win + ix];
            }
          }
        }
        output[(co * hout + oy) * wout + ox] = relu && s < 0 ? 0 : s;
      }
    }
  }
}

// ConvTranspose2d, torch's weight layout [c_in, c_out, k, k]: each input pixel scatters a k x k patch
function convTranspose(l, input, output, acc) {
  const { cin, hin, win, cout, hout, wout, k, stride, pad, W, b, relu } = l;
  const plane = hout * wout;
  for (let co = 0; co < cout; co++) acc.fill(b[co], co * plane, (co + 1) * plane);
  for (let ci = 0; ci < cin; ci++) {
    for (let iy = 0; iy < hin; iy++) {
      for (let ix = 0; ix < win; ix++) {
        const v = input[(ci * hin + iy) * win + ix];
        if (v === 0) continue; // after a ReLU, most are
        for (let co = 0; co < cout; co++) {
          const wBase = (ci * cout + co) * k * k, oBase = co * plane;
          for (let ky = 0; ky < k; ky++) {
            const oy = iy * stride - pad + ky;
            if (oy < 0 || oy >= hout) continue;
            for (let kx = 0; kx < k; kx++) {
              const ox = ix * stride - pad + kx;
              if (ox >= 0 && ox < wout) acc[oBase + oy * wout + ox] += v * W[wBase + ky * k + kx];
            }
          }
        }
      }
    }
  }
  for (let i = 0; i < cout * plane; i++) output[i] = relu && acc[i] < 0 ? 0 : acc[i];
}

// a decoder z -> pixel means [784] (sigmoid of the last step), writing into out
export function decoderOf(net) {
  return (z, out) => {
    const logits = net.run(z);
    for (let p = 0; p < 784; p++) out[p] = 1 / (1 + Math.exp(-logits[p]));
    return out;
  };
}

// decoders the page holds, by checkpoint ident: live.js registers its own, draw.js borrows it
export function registerDecoder(model, decode) {
  const nets = (vae.nets ||= new Map());
  if (!model || nets.get(model) === decode) return;
  nets.set(model, decode);
  window.dispatchEvent(new CustomEvent(DECODER, { detail: model }));
}

// the in-page decoder of checkpoint `model` (z, out) -> out, or undefined
export function decoderFor(model) {
  return vae.nets && vae.nets.get(model);
}

// a decoder from a whole weights blob (backend/weights.py: pack): {header, decode(z, out) -> out}; throws
// with the reason for a blob this page cannot run (another version, an unknown op, no pixels out)
export function decoderFromBlob(bytes) {
  const { header, start } = readHeader(bytes);
  const net = buildNet(header.layers, readFloats(bytes, header, start), header.latent_dim);
  if (net.outSize !== 784) throw new Error(`decoder gives ${net.outSize} values, not 784 pixels`);
  return { header, decode: decoderOf(net) };
}
