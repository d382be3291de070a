"""Checkpoints as plain data (state dict, config dict, metrics, format version), sealed with a
SHA-256 digest and written atomically.

File layout: the bytes of `torch.save(payload)` (a zip), then a 40-byte footer (vae_core/sealed.py):
MAGIC and the SHA-256 of everything before it. Loading checks the size, then the digest, then the config's
bounds and every tensor's shape against the config, and only then allocates the model. Files
from before the footer existed (a bare torch zip) still load, marked `payload["integrity"] =
"legacy"` so callers can say so.
"""
import io
import pickle
from dataclasses import asdict, fields
from pathlib import Path

import torch

from vae_core.errors import CheckpointError
from vae_core.model import VAE, VAEConfig
from vae_core.sealed import check_file, seal, write_atomic

FORMAT_VERSION = 1
KIND = "vae-explorer-checkpoint"


def save_checkpoint(path: Path, model: VAE, *, dataset: str, metrics: dict | None = None,
                    extra: dict | None = None) -> None:
    """Write model weights + config + metrics to `path`: a temp file in the same folder, fsync,
    rename. On failure (disk full, unwritable) the old file is untouched, the temp file removed,
    and a CheckpointError says why."""
    path = Path(path)
    payload = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "config": asdict(model.cfg),
        "dataset": dataset,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": dict(metrics or {}),
        "extra": dict(extra or {}),  # e.g. optimizer state and epoch for --resume
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_atomic(path, seal(buf.getbuffer()))


def read_payload(path: Path) -> dict:
    """Check the file, then torch.load with weights_only=True (never runs code) and memory-mapped
    storages (a big tensor costs no memory until it is used), then check the payload's shape."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    integrity = check_file(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # the unpickler raises many types on odd bytes; all mean the same here
        if isinstance(e, pickle.UnpicklingError) and str(e).startswith("Weights only load failed"):
            why = next((line for line in str(e).splitlines() if "GLOBAL" in line.upper()), "a code object")
            raise CheckpointError(path, f"refused, it holds more than plain data ({why.strip()[:160]})") from None
        raise CheckpointError(path, f"not a readable checkpoint (corrupt or truncated: {type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("kind") != KIND:
        raise CheckpointError(path, "not a VAE explorer checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(path, f"format version {payload.get('format_version')!r:.20} is not "
                                    f"the supported {FORMAT_VERSION}")
    payload["integrity"] = integrity
    return payload


def config_of(path: Path, payload: dict) -> VAEConfig:
    """The payload's config, refused (naming the field and the limit) if it is out of bounds."""
    raw_cfg = payload.get("config")
    names = {f.name for f in fields(VAEConfig)}
    if not isinstance(raw_cfg, dict) or not set(raw_cfg) <= names:
        raise CheckpointError(path, "config is missing or has unknown fields")
    try:
        return VAEConfig(**raw_cfg)
    except (TypeError, ValueError) as e:
        raise CheckpointError(path, f"config refused: {str(e)[:200]}") from None


def check_shapes(path: Path, cfg: VAEConfig, state_dict) -> None:
    """Every tensor the config needs, with its shape and dtype, and nothing else, before the
    model is allocated: the expected shapes come from a model built on the meta device."""
    with torch.device("meta"):
        expected = VAE(cfg).state_dict()
    if not isinstance(state_dict, dict):
        raise CheckpointError(path, "weights do not match the config (no state dict)")
    missing, unexpected = expected.keys() - state_dict.keys(), state_dict.keys() - expected.keys()
    if missing or unexpected:
        names = sorted(map(str, missing))[:2] + sorted(map(str, unexpected))[:2]
        raise CheckpointError(path, f"weights do not match the config ({len(missing)} missing, "
                                    f"{len(unexpected)} unexpected: {', '.join(names)[:120]})")
    for key, want in expected.items():
        got = state_dict[key]
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != torch.float32:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckpointError(path, f"weights do not match the config ({key}: {shape}, "
                                        f"expected {tuple(want.shape)} float32)")


def load_checkpoint(path: Path) -> tuple[VAE, dict]:
    """Rebuild the model from `path`. Returns (model in eval mode on CPU, payload); the payload's
    "integrity" is "sha256", or "legacy" for a file written before digests."""
    path = Path(path)
    payload = read_payload(path)
    cfg = config_of(path, payload)
    check_shapes(path, cfg, payload.get("state_dict"))
    model = VAE(cfg)
    model.load_state_dict(payload["state_dict"], strict=True)
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise CheckpointError(path, "weights contain NaN or inf")
    return model.eval(), payload
