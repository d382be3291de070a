"""train.py against real faults, in real processes: kill -9 at random moments, two runs on one
folder, a full disk."""
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from testkit import ROOT
from vae_core.checkpoint import load_checkpoint

TINY = ["--hidden", "16", "--batch-size", "1000", "--iw-samples", "0", "--no-pictures",
        "--data-root", str(ROOT / "data")]
EPOCHS = 3
KILL_TRIALS = 20


class Run:
    """train.py in a child process; its stdout lines are collected as they come."""

    def __init__(self, out, *args, preexec_fn=None):
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *TINY, "--out", str(out), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                     env={**os.environ, "TQDM_DISABLE": "1"}, preexec_fn=preexec_fn)
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    def wait_for(self, prefix: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(line.startswith(prefix) for line in self.lines):
            assert self.proc.poll() is None or any(line.startswith(prefix) for line in self.lines), self.finish()
            assert time.monotonic() < deadline, f"no {prefix!r} line within {timeout} s"
            time.sleep(0.005)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        err = self.proc.stderr.read()
        code = self.proc.wait(timeout)
        self.reader.join(5)
        return code, err


def epochs_in_log(out) -> list[int]:
    path = out / "metrics.jsonl"
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted run: the reference weights, and how long its training part takes."""
    out = tmp_path_factory.mktemp("straight")
    run = Run(out, "--epochs", str(EPOCHS))
    run.wait_for("mnist ")
    started = time.monotonic()
    code, err = run.finish()
    assert code == 0, err
    model, _ = load_checkpoint(out / "model.pt")
    return model.state_dict(), time.monotonic() - started


@pytest.mark.slow
def test_random_kill_9_never_loses_more_than_an_epoch_and_resumes_identically(tmp_path, straight):
    reference, train_seconds = straight
    rng = random.Random(7)
    for trial in range(KILL_TRIALS):
        out = tmp_path / f"t{trial}"
        run = Run(out, "--epochs", str(EPOCHS))
        run.wait_for("mnist ")  # training has begun
        if trial % 4 == 3:  # aim at the checkpoint write itself: kill as soon as its temp file appears
            deadline = time.monotonic() + 30
            while run.proc.poll() is None and not any(p.suffix == ".tmp" for p in out.iterdir()):
                assert time.monotonic() < deadline
        else:
            time.sleep(rng.uniform(0, 1.1 * train_seconds))
        run.proc.send_signal(signal.SIGKILL)
        run.finish()
        finished = sum(line.startswith("epoch") for line in run.lines)  # printed after each save
        if (out / "model.pt").exists():
            _, payload = load_checkpoint(out / "model.pt")
            saved = payload["extra"]["epoch"]
        else:
            saved = 0
        assert saved >= finished, (trial, saved, finished)  # only the epoch in progress is lost
        assert epochs_in_log(out) in (list(range(1, saved + 1)), list(range(1, saved)))  # never ahead
        resumed = Run(out, "--epochs", str(EPOCHS), *(["--resume"] if saved else []))
        code, err = resumed.finish()
        assert code == 0, (trial, err)
        model, payload = load_checkpoint(out / "model.pt")
        assert payload["extra"]["epoch"] == EPOCHS
        assert epochs_in_log(out) == list(range(1, EPOCHS + 1)), trial
        assert all(torch.equal(reference[k], v) for k, v in model.state_dict().items()), trial
        leftovers = [p.name for p in out.iterdir() if p.suffix == ".tmp"]
        assert not leftovers, leftovers  # a temp file from the killed write is cleared by the next run


def test_second_run_on_the_same_folder_is_refused_and_a_killed_runs_lock_is_taken_over(tmp_path):
    out = tmp_path / "r"
    first = Run(out, "--epochs", "50")
    first.wait_for("mnist ")
    second = Run(out, "--epochs", "50")
    code, err = second.finish()
    assert code == 2 and f"{out} is in use by another train.py (pid {first.proc.pid})" in err, err
    first.wait_for("epoch   1/")
    first.proc.send_signal(signal.SIGKILL)
    first.finish()
    saved = load_checkpoint(out / "model.pt")[1]["extra"]["epoch"]  # epochs are short: more than one may be saved
    assert saved >= 1
    third = Run(out, "--epochs", str(saved + 1), "--resume")  # the dead run's lock is no obstacle
    code, err = third.finish()
    assert code == 0, err
    assert epochs_in_log(out) == list(range(1, saved + 2))


def _small_disk():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, resource.RLIM_INFINITY))


@pytest.mark.slow
def test_full_disk_is_one_clear_error_and_resume_works_once_there_is_space(tmp_path):
    out = tmp_path / "r"
    code, err = Run(out, "--epochs", "1").finish()
    assert code == 0, err
    before = (out / "model.pt").read_bytes()
    code, err = Run(out, "--epochs", "3", "--resume", preexec_fn=_small_disk).finish()
    assert code == 1 and "Traceback" not in err, err
    assert err.strip().startswith("error: ") and "could not write" in err and err.strip().count("\n") == 0, err
    assert (out / "model.pt").read_bytes() == before  # the last good checkpoint, untouched
    assert not [p.name for p in out.iterdir() if p.suffix == ".tmp"]
    code, err = Run(out, "--epochs", "3", "--resume").finish()
    assert code == 0, err
    assert epochs_in_log(out) == [1, 2, 3]


def test_unusable_out_folder_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    code, err = Run(tmp_path / "file" / "run", "--epochs", "1").finish()
    assert code == 2 and err.startswith("error: cannot use --out") and "Traceback" not in err, err


@pytest.mark.slow
def test_picker_never_offers_a_half_written_file_while_a_run_writes(tmp_path):
    """The app's picker and loader, polled while train.py saves epoch after epoch into runs/."""
    from explorer.backend import picker
    out = tmp_path / "runs" / "live"
    run = Run(out, "--epochs", "4")
    run.wait_for("mnist ")
    loads = 0
    while run.proc.poll() is None:
        for name in picker.scan(tmp_path)[0]:
            load_checkpoint(tmp_path / name)  # raises on a partial file
            loads += 1
    code, err = run.finish()
    assert code == 0, err
    assert loads > 20 and picker.scan(tmp_path) == (("runs/live/model.pt",), ())
