"""A run's history (vae_core/history.py): recording leaves the weights alone, a stop mid-epoch resumes
bit for bit, damage is refused, the route serves only what it should."""
import json
import os

import numpy as np
import pytest
import torch

from testkit import ROOT
from vae_core import history
from vae_core.training import beta_at

TINY = ["--hidden", "16", "--batch-size", "500", "--subset", "2000", "--iw-samples", "0", "--no-pictures",
        "--epochs", "2", "--data-root", str(ROOT / "data")]


def run(out, *extra) -> int:
    import train
    train._stopping = False
    return train.main([*TINY, "--out", str(out), *extra])


def weights(out) -> dict:
    return torch.load(out / "model.pt", weights_only=True)["state_dict"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    assert run(out) == 0
    return out


def test_recording_a_history_does_not_change_the_weights(straight, tmp_path):
    assert run(tmp_path / "off", "--no-history") == 0
    assert not (tmp_path / "off" / "model.history").exists()
    assert same(weights(straight), weights(tmp_path / "off"))
    h = history.read(straight / "model.history")
    assert h.finished and len(h.epochs) == 2 and h.frames[0].meta["step"] == 0  # the initial blob
    assert [f.meta["step"] for f in h.frames] == sorted({f.meta["step"] for f in h.frames})
    assert h.frames[-1].meta["step"] == 8 and h.frames[-1].arrays["xy"].shape == (len(h.run.arrays["tracked"]), 2)
    assert set(np.bincount(h.run.arrays["labels"])) == {100}  # 100 of each class followed


def test_a_stop_mid_epoch_resumes_to_the_same_weights(straight, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / ".control").write_text(json.dumps({"cmd": "stop", "seq": 1}))  # stop after the first step
    assert run(out) == 0
    h = history.read(out / "model.history", final=False)
    assert h.stop.meta == {**h.stop.meta, "step": 1, "reason": "stopped"}
    (out / ".control").unlink()
    assert run(out, "--resume") == 0
    assert same(weights(straight), weights(out))
    h = history.read(out / "model.history")
    assert h.finished and [f.meta["step"] for f in h.frames] == [f.meta["step"] for f in
                                                                  history.read(straight / "model.history").frames]


def test_damage_is_refused_and_a_torn_tail_is_left_for_later(straight, tmp_path):
    buf = (straight / "model.history").read_bytes()
    flipped = bytearray(buf)
    flipped[len(buf) // 2] ^= 1
    (tmp_path / "d.history").write_bytes(bytes(flipped))
    with pytest.raises(history.HistoryError, match="damaged"):
        history.read(tmp_path / "d.history")
    (tmp_path / "t.history").write_bytes(buf[:-5])
    with pytest.raises(history.HistoryError, match="cut short"):
        history.read(tmp_path / "t.history")
    torn = history.read(tmp_path / "t.history", final=False)  # being written: what is whole so far
    assert torn.stop is None and len(torn.frames) == len(history.read(straight / "model.history").frames)
    huge = history.MAGIC + b"FRAM" + (16).to_bytes(4, "little") + (1 << 30).to_bytes(4, "little") + b"\0" * 20
    (tmp_path / "h.history").write_bytes(huge)
    with pytest.raises(history.HistoryError, match="not a record"):  # refused before anything is allocated
        history.read(tmp_path / "h.history")
    with pytest.raises(history.HistoryError, match="not a run history"):
        (tmp_path / "x.history").write_bytes(b"PK\3\4" + buf[8:])
        history.read(tmp_path / "x.history")


def test_the_route_serves_run_histories_only_in_whole_checked_records(straight, tmp_path, monkeypatch):
    from explorer.backend import picker, remote
    monkeypatch.setenv(picker.HOME_ENV, str(tmp_path))
    (tmp_path / "runs" / "a").mkdir(parents=True)
    buf = (straight / "model.history").read_bytes()
    (tmp_path / "runs" / "a" / "model.history").write_bytes(buf[:-5])  # still being written
    body, more, live = remote.history_chunk("runs/a/model.history", 0)
    assert not live and not more and buf.startswith(body) and len(body) < len(buf) - 5
    later, _, _ = remote.history_chunk("runs/a/model.history", len(body))
    assert later == b""  # the torn record is not sent
    for bad in ("runs/../a/model.history", "/etc/passwd", "runs/a/model.pt", "checkpoints/.x.history"):
        with pytest.raises(ValueError):
            remote.history_chunk(bad, 0)
    os.symlink(tmp_path / "runs" / "a", tmp_path / "runs" / "b")
    with pytest.raises(ValueError):
        remote.history_chunk("runs/b/model.history", 0)
    flipped = bytearray(buf)
    flipped[-40] ^= 1
    (tmp_path / "runs" / "a" / "model.history").write_bytes(bytes(flipped))
    with pytest.raises(history.HistoryError):
        remote.history_chunk("runs/a/model.history", 0)


def test_kl_warmup_ramps_the_weight_linearly_then_holds_it():
    assert [round(beta_at(s, 100, 2.0, 0.1), 3) for s in (0, 4, 9, 10, 99)] == [0.2, 1.0, 2.0, 2.0, 2.0]
    assert beta_at(0, 100, 1.0, 0.0) == 1.0


def test_a_thinned_history_keeps_the_epochs_ends(straight, tmp_path):
    (tmp_path / "t.history").write_bytes(history.thinned(straight / "model.history", 3))
    full, thin = history.read(straight / "model.history"), history.read(tmp_path / "t.history")
    assert thin.finished and len(thin.epochs) == 2 and len(thin.frames) < len(full.frames)
    assert {4, 8} <= {f.meta["step"] for f in thin.frames}
