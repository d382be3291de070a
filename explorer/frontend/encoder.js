// The encoder for the "Your digit" panel: its blob (weights.pack_encoder) arrives once per checkpoint
// in an invisible element outside the panel's fragment, so a stroke's end never re-sends (or
// re-hashes) megabytes. Parsed here and kept in vae.encoders by checkpoint ident, where draw.js finds
// it (ENCODER event).
import { buildNet, decoderOf, readFloats, readHeader } from "./nn.js";
import { vae, ENCODER } from "./shared.js";

const encoders = (vae.encoders ||= new Map()); // model -> {header, net, encode, decode} | {error}

function parseEncoder(bytes) {
  const { header, start } = readHeader(bytes);
  if (header.role !== "encoder") throw new Error("not an encoder blob");
  const floats = readFloats(bytes, header, start);
  const net = buildNet(header.layers, floats, 784);
  if (net.outSize !== 2 * header.latent_dim) throw new Error(`encoder gives ${net.outSize} values, not 2 x ${header.latent_dim}`);
  const decode = header.decoder ? decoderOf(buildNet(header.decoder, floats, header.latent_dim)) : null;
  const D = header.latent_dim;
  // x: 784 values in [0, 1] -> {mu, logvar} (Float32Arrays of their own)
  const encode = (x) => {
    const out = net.run(x);
    return { mu: Float32Array.from(out.subarray(0, D)), logvar: Float32Array.from(out.subarray(D, 2 * D)) };
  };
  return { header, net, encode, decode };
}

// for tests: encode(pixels784 in [0, 1]) -> {mu, logvar} as plain arrays
export function encoderFromBlob(bytes) {
  const enc = parseEncoder(bytes);
  return (x) => {
    const { mu, logvar } = enc.encode(Float32Array.from(x));
    return { mu: Array.from(mu), logvar: Array.from(logvar) };
  };
}

// data: the encoder blob; its header's `model` names the checkpoint
export default function ({ data }) {
  if (!data) return;
  let model = null, id = null;
  try {
    const n = new DataView(data.buffer, data.byteOffset).getUint32(4, true);
    ({ model, id } = JSON.parse(new TextDecoder().decode(data.subarray(8, 8 + n))));
  } catch (err) { /* parseEncoder says what is wrong */ }
  const held = encoders.get(model);
  if (held && held.header && held.header.id === id) return; // parsed already (the id says whether a decoder came along)
  let entry;
  try {
    entry = parseEncoder(data);
    model = entry.header.model;
  } catch (err) {
    entry = { error: `your digit: ${err.message}` };
    console.error(entry.error);
  }
  encoders.set(model ?? "*", entry); // "*": a blob too broken to name its model
  if (model !== null) encoders.delete("*");
  window.dispatchEvent(new CustomEvent(ENCODER, { detail: model }));
}
