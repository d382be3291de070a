"""The first page without torch: per-checkpoint snapshots on disk (explorer/snapshot.py)."""
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from explorer.backend import models, snapshot
from testkit import APP, ROOT
from vae_core.checkpoint import load_checkpoint, save_checkpoint
from vae_core.losses import gaussian_kl
from vae_core.model import VAE, VAEConfig
from vae_core.sealed import file_digest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(snapshot.CACHE_ENV, str(tmp_path / "cache"))
    models.forget_builds()
    snapshot.cached.clear()
    return tmp_path / "cache"


def _checkpoint(path, seed: int, latent_dim: int = 3):
    torch.manual_seed(seed)
    save_checkpoint(path, VAE(VAEConfig(latent_dim=latent_dim, hidden=[16])), dataset="mnist")
    return path


def test_snapshot_round_trips_and_matches_the_model(tmp_path, cache):
    path = _checkpoint(tmp_path / "m.pt", 0)
    digest = file_digest(path)
    built = models.build_snapshot("runs/m.pt", str(path), digest)
    back = snapshot.cached("runs/m.pt", digest)
    assert (cache / f"{digest}.snap").is_file()
    assert back is not built  # read from disk
    for a in ("mu", "logvar", "labels"):
        np.testing.assert_array_equal(getattr(back, a), getattr(built, a))
    assert back.blob == built.blob and back.blob[:4] == b"VAEW"
    assert (back.config, back.dataset, back.integrity, back.classes[:2]) == (built.config, "mnist", "sha256", ["0", "1"])
    mu = models.encodings(models._load(str(path), digest)[0], "mnist")[0]
    np.testing.assert_array_equal(back.mu, mu)


def test_opening_a_checkpoint_says_how_far_it_is(tmp_path, cache, monkeypatch):
    path = _checkpoint(tmp_path / "m.pt", 0)
    said, seen = [], []  # what the builder thread says as it goes; what the waiting page is shown
    real = models._Build.say
    monkeypatch.setattr(models._Build, "say", lambda self, f, text: (said.append((f, text)), real(self, f, text)))
    monkeypatch.setattr(models, "POLL_S", 0.001)
    models.build_snapshot("runs/m.pt", str(path), file_digest(path), lambda f, text: seen.append((f, text)))
    assert seen[0][1].startswith("Reading and checking the checkpoint (")  # before the model is loaded
    assert all(shown in said for shown in seen[1:])
    fractions = [f for f, _ in seen[:1] + said]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1
    encoding = [text for _, text in said if text.startswith("Encoding the test digits")]
    assert len(encoding) == 10_000 // models.ENCODE_CHUNK and "10,000 of 10,000" in encoding[-1]
    assert said[-1][1] == "Packing the decoder for the page…"


def test_sessions_opening_one_checkpoint_at_once_share_one_build(tmp_path, cache, monkeypatch):
    path = _checkpoint(tmp_path / "m.pt", 0)
    encoded = []
    real = models.encode_all
    monkeypatch.setattr(models, "encode_all", lambda model, x: (encoded.append(len(x)), real(model, x))[1])
    digest = file_digest(path)
    with ThreadPoolExecutor(4) as pool:
        views = list(pool.map(lambda _: models.build_snapshot("runs/m.pt", str(path), digest), range(4)))
    assert all(v is views[0] for v in views) and sum(encoded) == 10_000  # encoded once, for all four


def test_a_changed_checkpoint_is_never_served_a_stale_snapshot(tmp_path, cache):
    path = _checkpoint(tmp_path / "m.pt", 0)
    first = models.build_snapshot("runs/m.pt", str(path), file_digest(path))
    _checkpoint(path, 1)  # same name, other weights
    digest = file_digest(path)
    with pytest.raises(LookupError):
        snapshot.cached("runs/m.pt", digest)  # a new content is a new key: nothing cached for it yet
    second = models.build_snapshot("runs/m.pt", str(path), digest)
    assert second.ident != first.ident and not np.array_equal(second.mu, first.mu)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "other-digest"])
def test_a_damaged_snapshot_is_rebuilt_not_trusted(tmp_path, cache, damage):
    path = _checkpoint(tmp_path / "m.pt", 0)
    digest = file_digest(path)
    good = models.build_snapshot("runs/m.pt", str(path), digest)
    file = cache / f"{digest}.snap"
    raw = bytearray(file.read_bytes())
    if damage == "truncate":
        file.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "flip":  # a byte inside the means: the seal catches it
        at = raw.find(good.mu.tobytes()[:32])
        raw[at + 5] ^= 0xFF
        file.write_bytes(bytes(raw))
    elif damage == "garbage":
        file.write_bytes(b"not a snapshot at all")
    else:  # a valid snapshot of another checkpoint put under this one's name
        other = _checkpoint(tmp_path / "o.pt", 5)
        odig = file_digest(other)
        models.build_snapshot("runs/o.pt", str(other), odig)
        file.write_bytes((cache / f"{odig}.snap").read_bytes())
    assert snapshot.read(file, "runs/m.pt", digest) is None
    assert not file.exists()  # deleted, so the next open rebuilds it


def _tampered(good, **change):
    """A snapshot written with a valid seal but one field changed: only the checks on content can refuse it."""
    fields = {k: getattr(good, k) for k in ("name", "digest", "dataset", "config", "metrics", "integrity", "mu",
                                            "logvar", "labels", "classes", "blob", "live_note", "kl_dims",
                                            "activity")}
    return snapshot.Snapshot(**{**fields, **change})


@pytest.mark.parametrize("case", ["mu-zeroed", "mu-shifted", "blob-zeroed", "size-claimed", "labels", "count",
                                  "dataset", "blob-garbage", "version", "kl-dims"])
def test_a_tampered_snapshot_is_refused_and_deleted(tmp_path, cache, case, caplog):
    path = _checkpoint(tmp_path / "m.pt", 0)
    digest = file_digest(path)
    good = models.build_snapshot("runs/m.pt", str(path), digest)
    file = cache / f"{digest}.snap"
    raw = bytearray(file.read_bytes())
    meta_len = int.from_bytes(raw[12:16], "little")
    start = 16 + meta_len
    n, d = good.mu.shape
    if case == "mu-zeroed":  # consistent shapes, wrong content: the seal refuses it
        raw[start:start + 4 * n * d] = bytes(4 * n * d)
    elif case == "mu-shifted":
        raw[start:start + 4 * n * d] = (good.mu + 3).astype("<f4").tobytes()
    elif case == "blob-zeroed":  # the decoder's weights zeroed: every digit would be flat grey
        at = len(raw) - 32 - len(good.blob) + 2000
        raw[at:at + 4000] = bytes(4000)
    elif case == "size-claimed":  # a meta claiming 126 M points: refused from its size, unread
        meta = raw[16:start].decode().replace('"n": 10000', '"n": 126000000')
        raw[12:16] = len(meta).to_bytes(4, "little")
        raw[16:start] = meta.encode()
        file.write_bytes(bytes(raw))
        with open(file, "r+b") as f:
            f.truncate(2 << 30)  # a sparse 2 GB file: the reader must not read it
    elif case == "version":
        raw[8:12] = (2).to_bytes(4, "little")
    else:
        change = {"labels": {"labels": np.full(n, 99)}, "count": {"mu": good.mu[:1], "logvar": good.logvar[:1],
                  "labels": good.labels[:1]}, "dataset": {"dataset": "nope"},
                  "blob-garbage": {"blob": b"VAEW" + b"\xff" * 64}, "kl-dims": {"kl_dims": (1.0,)}}[case]
        snapshot.write(_tampered(good, **change))  # a valid seal over bad content
        raw = bytearray(file.read_bytes())
    if case != "size-claimed":
        file.write_bytes(bytes(raw))
    with caplog.at_level("WARNING", logger="explorer"):
        assert snapshot.read(file, "runs/m.pt", digest) is None
    assert not file.exists()
    assert len(caplog.records) == 1 and "rebuilding it" in caplog.records[0].getMessage()


def test_a_snapshot_over_the_page_budget_has_no_blob_and_says_why(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(snapshot, "PAGE_BUDGET", 10_000)  # a synthetic "huge" model: any real decoder is over
    path = _checkpoint(tmp_path / "m.pt", 0)
    digest = file_digest(path)
    built = models.build_snapshot("runs/m.pt", str(path), digest)
    assert built.blob == b"" and not built.live_supported
    assert "over the 0 MB the page is sent: the server decodes each frame" in built.live_note
    back = snapshot.cached("runs/m.pt", digest)
    assert back.blob == b"" and back.live_note == built.live_note
    monkeypatch.setattr(snapshot, "PAGE_BUDGET", 32 << 20)
    assert models.over_page_budget(VAE(VAEConfig(hidden=[16])).decoder) == ""


def test_the_first_page_is_drawn_without_importing_torch(tmp_path):
    """With a snapshot on disk, a fresh process draws the map and the live decoder and has not
    imported torch (the background warm-up, which would import it next, is held off here)."""
    script = f"""
import os, sys
from explorer.backend import serving
serving.warm_torch = lambda: None
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout=120)
at.run()
assert not at.exception, at.exception
kinds = [getattr(e.proto, "component_name", "") for e in at.get("bidi_component")]
print("torch" in sys.modules, len(at.get("plotly_chart")), any(k.endswith("vae_live_decoder") for k in kinds))
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), snapshot.CACHE_ENV: str(tmp_path / "cache")}
    warm = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert warm.stdout.split() == ["True", "1", "True"]  # no snapshot yet: torch builds it
    cold = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert cold.returncode == 0, cold.stderr[-2000:]
    assert cold.stdout.split() == ["False", "1", "True"]  # from the snapshot: map and live decoder, no torch


def test_server_decoding_in_numpy_matches_torch(tmp_path, cache):
    """The server path decodes an MLP from the snapshot's weights blob in numpy: same pixels as torch."""
    from explorer.backend import infer
    path = _checkpoint(tmp_path / "m.pt", 3, latent_dim=5)
    digest = file_digest(path)
    view = models.build_snapshot("runs/m.pt", str(path), digest)
    z = np.random.default_rng(0).uniform(-3, 3, size=(64, 5)).astype(np.float32)
    want = models.decode(models._load(str(path), digest)[0], z)
    got = infer.decode(view, z)
    assert infer._mlp(view.ident, view.blob) is not None  # the numpy path was taken
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-5


def test_the_snapshots_kl_per_dim_is_the_models_kl_and_active_units_read_back(tmp_path, cache):
    path = _checkpoint(tmp_path / "m.pt", 0)
    digest = file_digest(path)
    built = models.build_snapshot("runs/m.pt", str(path), digest)
    model, _ = load_checkpoint(path)
    with torch.no_grad():  # independently: torch's encoder and the training loss's KL, on the test images
        mu, logvar = model.encode(models.test_split("mnist")[1])
        kl = gaussian_kl(mu, logvar).double().mean().item()
    assert len(built.kl_dims) == model.cfg.latent_dim
    assert sum(built.kl_dims) == pytest.approx(kl, rel=1e-5)
    back = snapshot.read(cache / f"{digest}.snap", "runs/m.pt", digest)
    assert back.kl_dims == built.kl_dims and back.activity == built.activity
    assert back.activity == pytest.approx(tuple(mu.double().var(0, unbiased=False).tolist()), rel=1e-4)
