import hashlib
import io
import json
import os
import pickle
import random
import resource
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from testkit import ROOT
from vae_core.checkpoint import load_checkpoint, save_checkpoint
from vae_core.errors import CheckpointError
from vae_core.model import VAE, VAEConfig
from vae_core.sealed import FOOTER, MAGIC


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


def test_plain_torch_load_reads_it_and_the_footer_seals_it(tmp_path, tiny_model):
    path = tmp_path / "m.pt"
    save_checkpoint(path, tiny_model, dataset="mnist")
    plain = torch.load(path, weights_only=True)  # plain data, no custom classes; the footer is ignored
    assert plain["config"] == asdict(tiny_model.cfg)
    assert all(torch.equal(plain["state_dict"][k], v) for k, v in tiny_model.state_dict().items())
    raw = path.read_bytes()
    assert raw[-FOOTER:-32] == MAGIC and raw[-32:] == hashlib.sha256(raw[:-FOOTER]).digest()
    assert load_checkpoint(path)[1]["integrity"] == "sha256"


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


def test_flipped_byte_in_the_weights_is_a_digest_mismatch(tmp_path, tiny_model):
    path = _saved(tmp_path, tiny_model)
    raw = bytearray(path.read_bytes())
    weights = bytes(tiny_model.state_dict()["encoder.1.0.weight"].numpy().tobytes()[:64])
    at = raw.find(weights)
    assert at > 0
    raw[at + 3] ^= 0x10  # one bit of one float: torch.load alone would accept this silently
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt: digest mismatch"):
        load_checkpoint(path)


def test_file_from_before_digests_loads_marked_legacy(tmp_path, tiny_model):
    path = _saved(tmp_path, tiny_model)
    path.write_bytes(path.read_bytes()[:-FOOTER])  # a bare torch.save file, as older versions wrote
    model, payload = load_checkpoint(path)
    assert payload["integrity"] == "legacy"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), tiny_model.state_dict().values()))


def test_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, tiny_model):
    path = _saved(tmp_path, tiny_model)
    before = path.read_bytes()
    big = VAE(VAEConfig(latent_dim=3, hidden=[512]))
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 1000, old_limit[1]))  # "disk full" for us
    try:
        with pytest.raises(CheckpointError, match="m.pt: could not write .*unchanged"):
            save_checkpoint(path, big, dataset="mnist")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    with pytest.raises(CheckpointError, match="could not write"):
        save_checkpoint(path / "inside-a-file.pt", tiny_model, dataset="mnist")


FUZZ_TRIALS = 1200


def test_fuzzed_checkpoints_always_end_in_checkpoint_error(tmp_path, tiny_model):
    """Random byte flips, overwrites, insertions and truncations of a valid file: every one is a
    CheckpointError, quickly; never another exception, and never a load of changed weights."""
    good = _saved(tmp_path, tiny_model).read_bytes()
    rng = random.Random(1234)
    path = tmp_path / "fuzz.pt"
    outcomes = {}
    for trial in range(FUZZ_TRIALS):
        raw = bytearray(good)
        kind = trial % 4
        if kind == 0:  # 1-16 flipped bits anywhere
            for _ in range(rng.randint(1, 16)):
                raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # a run of random bytes, often in the zip headers and the pickle near the start
            at = rng.randrange(min(len(raw), 5000) if rng.random() < 0.5 else len(raw))
            raw[at:at + rng.randint(1, 32)] = rng.randbytes(rng.randint(1, 32))
        elif kind == 2:  # truncated
            del raw[rng.randrange(len(raw)):]
        else:  # bytes inserted
            at = rng.randrange(len(raw))
            raw[at:at] = rng.randbytes(rng.randint(1, 64))
        if bytes(raw) == good:
            continue
        path.write_bytes(bytes(raw))
        started = time.perf_counter()
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(path)
        assert time.perf_counter() - started < 5
        outcomes[e.value.problem.split(" (")[0]] = outcomes.get(e.value.problem.split(" (")[0], 0) + 1
    assert sum(outcomes.values()) >= 1000, outcomes


def test_fuzzed_legacy_files_never_raise_anything_but_checkpoint_error(tmp_path, tiny_model):
    """Without a digest a flipped weight can load (which is why files carry one now), but odd
    bytes in the zip or the pickle must still end in a CheckpointError, never a KeyError & co."""
    legacy = _saved(tmp_path, tiny_model).read_bytes()[:-FOOTER]
    rng = random.Random(99)
    path = tmp_path / "legacy.pt"
    for _ in range(300):
        raw = bytearray(legacy)
        at = rng.randrange(min(len(raw), 5000))
        raw[at:at + rng.randint(1, 8)] = rng.randbytes(rng.randint(1, 8))
        path.write_bytes(bytes(raw))
        try:
            load_checkpoint(path)
        except CheckpointError:
            pass


def _sealed(path: Path, payload: dict) -> Path:
    """A file with a valid digest around any payload: what a careless or hostile writer could make."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.write_bytes(buf.getvalue() + MAGIC + hashlib.sha256(buf.getvalue()).digest())
    return path


BOMB_CHECK = """
import json, resource, sys, time
from vae_core.checkpoint import load_checkpoint
from vae_core.errors import CheckpointError
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
load_checkpoint(sys.argv[1])  # warm: lazy imports and first-use allocations are not the bomb's
out = {}
for path in sys.argv[2:]:
    base, started = peak_mb(), time.perf_counter()
    try:
        load_checkpoint(path)
        out[path] = "loaded"
    except CheckpointError as e:
        out[path] = [e.problem, time.perf_counter() - started, peak_mb() - base]
print(json.dumps(out))
"""


def test_config_and_tensor_bombs_are_refused_fast_and_small(tmp_path, tiny_model):
    """Huge sizes in the config, or huge extra tensors in the state dict, are refused before
    anything is allocated: within 1 s and under 100 MB of extra memory each."""
    good = _saved(tmp_path, tiny_model)
    payload = torch.load(good, weights_only=True)
    bombs = {
        "hidden": {**payload, "config": {**payload["config"], "hidden": [10**9]}},
        "latent": {**payload, "config": {**payload["config"], "latent_dim": 10**8}},
        "params": {**payload, "config": {**payload["config"], "hidden": [16384] * 8}},
        "extra": {**payload, "state_dict": {**payload["state_dict"], "big": torch.zeros(300 * 2**20 // 4)}},
        "shape": {**payload, "config": {**payload["config"], "hidden": [4096, 4096]}},
    }
    paths = [str(_sealed(tmp_path / f"{name}.pt", p)) for name, p in bombs.items()]
    del bombs, payload
    proc = subprocess.run([sys.executable, "-c", BOMB_CHECK, str(good), *paths], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    expect = {"hidden": "hidden must be between 1 and 16,384", "latent": "latent_dim must be between 1 and 1,024",
              "params": "over the limit of", "extra": "1 unexpected: big", "shape": "do not match the config"}
    for path, (name, words) in zip(paths, expect.items()):
        problem, seconds, extra_mb = results[path]
        assert words in problem, (name, problem)
        assert seconds < 1.0 and extra_mb < 100, (name, seconds, extra_mb)
