"""What the page's decoder runs: the decoder as steps live.js knows, and the blob that carries them."""
import json
import struct

import pytest
from torch import nn

from explorer.backend import weights
from vae_core.model import VAE, VAEConfig


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_shipped_architectures_run_in_the_page(arch):
    model = VAE(VAEConfig(arch=arch, latent_dim=3, hidden=[16, 8], conv_channels=[4, 8]))
    ops = weights.decoder_ops(model)
    assert ops is not None
    kinds = [kind for kind, *_ in ops]
    assert kinds == (["linear"] * 3 if arch == "mlp" else ["linear"] * 3 + ["convT"] * 2)
    assert [relu for _, _, relu, _ in ops] == [True] * (len(ops) - 1) + [False]  # no ReLU before the sigmoid


def test_a_layer_the_page_lacks_means_server_decoding():
    model = VAE(VAEConfig(latent_dim=2, hidden=[8]))
    model.decoder[1] = nn.Tanh()
    assert weights.decoder_ops(model) is None


def test_blob_header_lists_the_steps_and_sizes():
    model = VAE(VAEConfig(arch="conv", latent_dim=2, hidden=[8], conv_channels=[4, 8]))
    blob = weights.pack(model, ident="t", ranges=[[-3, 3]] * 2)
    assert blob[:4] == weights.MAGIC
    n = struct.unpack("<I", blob[4:8])[0]
    header = json.loads(blob[8:8 + n])
    conv = [step for step in header["layers"] if step["op"] == "convT"]
    assert [(c["cin"], c["hin"], c["cout"]) for c in conv] == [(8, 7, 4), (4, 14, 1)]
    n_params = sum(p.numel() for p in model.decoder.parameters())
    assert header["n_floats"] == n_params and len(blob) == 8 + n + 4 * n_params
