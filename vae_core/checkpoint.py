"""Checkpoints as plain data (state dict, config dict, metrics, format version), written atomically."""
import os
import pickle
import zipfile
from dataclasses import asdict, fields
from pathlib import Path

import torch

from vae_core.model import VAE, VAEConfig

FORMAT_VERSION = 1
KIND = "vae-explorer-checkpoint"


class CheckpointError(RuntimeError):
    """A checkpoint could not be read; the message names the file and the problem."""


def save_checkpoint(path: Path, model: VAE, *, dataset: str, metrics: dict | None = None,
                    extra: dict | None = None) -> None:
    """Write model weights + config + metrics to `path` via a temp file and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "config": asdict(model.cfg),
        "dataset": dataset,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": dict(metrics or {}),
        "extra": dict(extra or {}),  # e.g. optimizer state and epoch for --resume
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def read_payload(path: Path) -> dict:
    """torch.load with weights_only=True (never runs code), then check the payload's shape."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: refused, it holds more than plain data ({first[:160]})") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated: "
                              f"{type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("kind") != KIND:
        raise CheckpointError(f"{path}: not a VAE explorer checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {payload.get('format_version')!r} is not "
                              f"the supported {FORMAT_VERSION}")
    return payload


def load_checkpoint(path: Path) -> tuple[VAE, dict]:
    """Rebuild the model from `path`. Returns (model in eval mode on CPU, payload)."""
    payload = read_payload(path)
    raw_cfg = payload.get("config")
    names = {f.name for f in fields(VAEConfig)}
    if not isinstance(raw_cfg, dict) or not set(raw_cfg) <= names:
        raise CheckpointError(f"{path}: config is missing or has unknown fields")
    try:
        model = VAE(VAEConfig(**raw_cfg))
        model.load_state_dict(payload["state_dict"], strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match the config ({first[:160]})") from None
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise CheckpointError(f"{path}: weights contain NaN or inf")
    return model.eval(), payload
