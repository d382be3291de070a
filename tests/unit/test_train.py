import json

import pytest
import torch

import train
from testkit import ROOT
from vae_core.checkpoint import load_checkpoint
from vae_core.training import NonFiniteLoss

TINY = ["--hidden", "16", "--batch-size", "1000", "--iw-samples", "5", "--data-root", str(ROOT / "data")]


def run(out, *args) -> int:
    return train.main([*TINY, "--out", str(out), *args])


def test_end_to_end_writes_every_output(tmp_path):
    assert run(tmp_path / "r", "--epochs", "2", "--export", str(tmp_path / "slim.pt")) == 0
    out = tmp_path / "r"
    for name in ("model.pt", "metrics.jsonl", "canvas.png", "scatter.html", "reconstructions.png",
                 "loss_curve.html", "plotly.min.js"):
        assert (out / name).stat().st_size > 0, name
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    model, payload = load_checkpoint(tmp_path / "slim.pt")
    assert payload["metrics"]["test_iw5"] <= payload["metrics"]["test_neg_elbo"] + 1.0
    assert "optimizer" not in payload["extra"]
    assert (tmp_path / "slim.pt").stat().st_size < (out / "model.pt").stat().st_size


def test_ctrl_c_then_resume_is_bit_identical_to_a_straight_run(tmp_path, monkeypatch, capsys):
    assert run(tmp_path / "straight", "--epochs", "2") == 0
    real = train.train_one_epoch
    calls = []

    def interrupted_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_one_epoch", interrupted_in_second_epoch)
    assert run(tmp_path / "split", "--epochs", "2") == 130  # Ctrl-C: no traceback, epoch 1 kept
    err = capsys.readouterr().err
    assert "Traceback" not in err and "holds epoch 1; continue with: python train.py" in err
    assert err.strip().count("\n") == 0
    monkeypatch.setattr(train, "train_one_epoch", real)
    assert run(tmp_path / "split", "--epochs", "2", "--resume") == 0
    a, _ = load_checkpoint(tmp_path / "straight" / "model.pt")
    b, pb = load_checkpoint(tmp_path / "split" / "model.pt")
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert pb["extra"]["epoch"] == 2
    assert len((tmp_path / "split" / "metrics.jsonl").read_text().splitlines()) == 2


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    real = train.train_one_epoch
    calls = []

    def blows_up_on_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise NonFiniteLoss("loss became nan after 3000 images this epoch")
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_one_epoch", blows_up_on_second_epoch)
    assert run(tmp_path / "r", "--epochs", "3") == 1
    assert "keeps the last good epoch" in capsys.readouterr().err
    _, payload = load_checkpoint(tmp_path / "r" / "model.pt")
    assert payload["extra"]["epoch"] == 1


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert run(tmp_path / "none", "--resume") == 2
    assert "cannot resume" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--hidden", "a,b"], ["--lr", "-1"], ["--beta", "-2"],
                                 ["--adam-beta2", "1"], ["--adam-beta2", "nan"], ["--warmup", "2"]])
def test_bad_arguments_exit_with_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as e:
        train.parse_args(bad)
    assert e.value.code == 2 and "error:" in capsys.readouterr().err
