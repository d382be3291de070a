import pickle
from pathlib import Path

import pytest
import torch

from vae_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_gives_identical_outputs(tmp_path, tiny_model, images):
    path = tmp_path / "m.pt"
    save_checkpoint(path, tiny_model, dataset="mnist", metrics={"test_neg_elbo": 1.5})
    loaded, payload = load_checkpoint(path)
    assert payload["metrics"]["test_neg_elbo"] == 1.5 and payload["dataset"] == "mnist"
    assert loaded.cfg == tiny_model.cfg
    tiny_model.eval()
    assert torch.equal(loaded.encode(images)[0], tiny_model.encode(images)[0])
    assert torch.equal(loaded.decode(torch.ones(2, 3)), tiny_model.decode(torch.ones(2, 3)))
    assert not list(tmp_path.glob("*.tmp"))  # the temp file was renamed away


def test_loads_with_weights_only(tmp_path, tiny_model):
    save_checkpoint(tmp_path / "m.pt", tiny_model, dataset="mnist")
    torch.load(tmp_path / "m.pt", weights_only=True)  # plain data, no custom classes


class WritesAFile:
    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.target}",))


def test_refuses_pickle_payload_without_running_it(tmp_path):
    target = tmp_path / "pwned"
    evil = WritesAFile()
    evil.target = target
    path = tmp_path / "evil.pt"
    torch.save({"kind": "vae-explorer-checkpoint", "x": evil}, path)
    with pytest.raises(CheckpointError, match="evil.pt.*plain data"):
        load_checkpoint(path)
    assert not target.exists()


def test_refuses_raw_pickle(tmp_path):
    path = tmp_path / "raw.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="raw.pkl"):
        load_checkpoint(path)


def _saved(tmp_path, model) -> Path:
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, dataset="mnist")
    return path


def test_refuses_truncated(tmp_path, tiny_model):
    path = _saved(tmp_path, tiny_model)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="m.pt.*corrupt or truncated"):
        load_checkpoint(path)


def test_refuses_garbage_and_missing(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")


def test_refuses_foreign_torch_file(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a VAE explorer checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_refuses_mismatched_weights(tmp_path, tiny_model):
    path = _saved(tmp_path, tiny_model)
    payload = torch.load(path, weights_only=True)
    payload["config"]["latent_dim"] = 5
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match the config"):
        load_checkpoint(path)


def test_refuses_unknown_version_and_nan(tmp_path, tiny_model):
    path = _saved(tmp_path, tiny_model)
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "format_version": 99}, path)
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(path)
    next(iter(payload["state_dict"].values()))[0] = float("nan")
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(path)
