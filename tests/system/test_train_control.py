"""The Train view's control file against a real train.py: Pause holds the run, each Step is one Adam
step with its own frame (the map redrawn after each, as in GAN Lab), Run on goes on, Stop saves."""
import os
import subprocess
import sys
import time

from explorer.backend.trainer import write_control
from testkit import ROOT
from vae_core import history

TINY = ["--hidden", "16", "--batch-size", "1000", "--iw-samples", "0", "--no-pictures", "--epochs", "3",
        "--data-root", str(ROOT / "data")]


def frame_steps(out) -> list[int]:
    try:
        return [f.meta["step"] for f in history.read(out / "model.history", final=False).frames]
    except history.HistoryError:  # not written yet
        return []


def wait_until(test, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (got := test()):
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)
    return got


def test_pause_holds_step_is_one_adam_step_with_its_frame_and_stop_saves(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    write_control(out, "pause", 1)  # paused from its first step: the test sees every step it asks for
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *TINY, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TQDM_DISABLE": "1"})
    try:
        first = wait_until(lambda: len(frame_steps(out)) >= 2 and frame_steps(out), "the first frames")
        assert first == [0, 1]  # the control file is read after each step: the first one is taken
        time.sleep(1.0)
        assert frame_steps(out) == first, "a paused run went on"
        for seq in (2, 3, 4):
            before = frame_steps(out)
            write_control(out, "step", seq)
            now = wait_until(lambda b=before: (s := frame_steps(out)) != b and s, f"a frame after step {seq}")
            assert now == before + [before[-1] + 1], f"step {seq} was not one Adam step with one frame: {now[-3:]}"
        time.sleep(0.5)
        assert frame_steps(out)[-1] == first[-1] + 3  # no step without a click
        write_control(out, "run", 5)
        wait_until(lambda: frame_steps(out)[-1] > first[-1] + 10, "frames after Run on")
        write_control(out, "stop", 6)
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        proc.kill()
    h = history.read(out / "model.history")
    assert h.stop.meta["reason"] == "stopped" and not h.finished
    assert (out / "model.pt").is_file()


def test_a_stop_left_in_the_folder_does_not_stop_the_resumed_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    write_control(out, "stop", 7)  # the page's Stop: a fresh run reads it and stops after its first step

    def train(*extra):
        return subprocess.run([sys.executable, str(ROOT / "train.py"), *TINY, "--epochs", "1", "--out", str(out),
                               *extra], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "TQDM_DISABLE": "1"})
    done = train()
    assert done.returncode == 0, done.stderr
    assert history.read(out / "model.history", final=False).stop.meta["reason"] == "stopped"
    done = train("--resume")  # the line the stopped run printed; the Stop it left behind was for that run
    assert done.returncode == 0, done.stderr
    assert history.read(out / "model.history").finished
