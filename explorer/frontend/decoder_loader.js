// Puts a checkpoint's decoder in the page for views that decode without the decoder panel mounted
// (the Traverse view opened first): its data is the weights blob (docs/page-protocol.md), sent only
// when such a view said the page lacks it. Draws nothing; a blob it cannot run is said in the console.
import { decoderFromBlob, registerDecoder } from "./nn.js";

export default function ({ data }) {
  if (!data || !data.length) return;
  try {
    const { header, decode } = decoderFromBlob(data);
    registerDecoder(header.model, decode);
  } catch (err) {
    console.error(`decoder: ${err.message}`);
  }
}
