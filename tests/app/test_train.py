"""AppTest: the Train view's faults, each one line, nothing lost: a killed run, a damaged history,
a run name that is a path or in use, a second Start while a run is going, a read-only viewer."""
import shutil
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from explorer.backend import picker, trainer
from explorer.panels import train as train_panel
from testkit import APP, ROOT, SHIPPED
from vae_core import history
from vae_core.sealed import write_atomic

TINY = ["--hidden", "16", "--batch-size", "500", "--subset", "2000", "--iw-samples", "0", "--no-pictures",
        "--epochs", "2", "--data-root", str(ROOT / "data")]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    import train
    out = tmp_path_factory.mktemp("rec") / "run"
    assert train.main([*TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture
def home(tmp_path, monkeypatch):
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(SHIPPED, tmp_path / "checkpoints" / SHIPPED.name)
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.setenv(picker.HOME_ENV, str(tmp_path))
    monkeypatch.setenv("VAE_EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(trainer, "keep_worker_waiting", lambda: None)  # no torch process per test
    picker.forget_checkpoint_list()
    return tmp_path


def add_run(home, recorded, name: str) -> None:
    shutil.copytree(recorded, home / "runs" / name)
    (home / "runs" / name / ".lock").unlink(missing_ok=True)


def train_view(name: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["tab"] = "train"
    at.run()
    assert not at.exception, at.exception
    if name is not None:
        labelled(at.selectbox, "Run").set_value(f"runs/{name}/model.history").run()
    return at


def labelled(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def texts(at) -> str:
    return " ".join(e.value for kind in ("error", "warning", "caption", "info") for e in at.get(kind))


def test_a_killed_run_says_so_and_offers_resume(home, recorded):
    add_run(home, recorded, "k")
    path = home / "runs" / "k" / "model.history"
    records = history.parse(path.read_bytes(), len(history.MAGIC))[0]
    write_atomic(path, [history.MAGIC + b"".join(history.encode(r.kind.encode(), history._plain(r.meta), r.arrays)
                                                 for r in records if r.kind != "STOP")])  # no STOP: killed
    (home / "runs" / "k" / ".lock").write_text("pid 999999999")  # a process that is gone
    at = train_view("k")
    assert "ended without finishing" in texts(at)
    assert [b.label for b in at.button if b.label == "Resume"] == ["Resume"]


def test_resume_is_not_offered_again_while_the_resumed_run_starts(home, recorded, monkeypatch):
    add_run(home, recorded, "r")
    path = home / "runs" / "r" / "model.history"
    records = history.parse(path.read_bytes(), len(history.MAGIC))[0]
    write_atomic(path, [history.MAGIC + b"".join(
        history.encode(r.kind.encode(), {**history._plain(r.meta), **({"reason": "stopped"} if r.kind == "STOP" else {})},
                       r.arrays) for r in records)])  # stopped, not finished
    started = []
    monkeypatch.setattr(trainer, "start", lambda argv, name: started.append((argv, name)))  # its worker is slow
    at = train_view("r")
    assert "was stopped after" in texts(at)
    labelled(at.button, "Resume").click().run()
    assert not at.exception, at.exception
    assert [name for _, name in started] == ["r"]
    assert "`r` is starting" in texts(at)
    assert not any(b.label == "Resume" for b in at.button)  # no second click starts a second process


def test_a_damaged_history_is_refused_and_the_model_still_opens(home, recorded):
    add_run(home, recorded, "d")
    path = home / "runs" / "d" / "model.history"
    buf = bytearray(path.read_bytes())
    buf[len(buf) // 2] ^= 1
    path.write_bytes(bytes(buf))
    at = train_view("d")
    assert "is damaged" in texts(at) and "still opens in Explore" in texts(at)
    labelled(at.button, "Open in Explore").click().run()
    assert at.selectbox(key="ckpt").value == "runs/d/model.pt" and at.session_state["tab"] == "Explore"


@pytest.mark.parametrize("name, line", [("../x", "not a path"), ("a/b", "not a path"), ("taken", "exists already")])
def test_a_run_name_that_is_a_path_or_in_use_is_one_line(home, recorded, name, line):
    add_run(home, recorded, "taken")
    at = train_view()
    labelled(at.text_input, "Run name").set_value(name)
    labelled(at.button, "Start").click().run()
    assert line in " ".join(e.value for e in at.error), [e.value for e in at.error]
    assert sorted(p.name for p in (home / "runs").iterdir() if not p.name.startswith(".")) == ["taken"]


def test_out_of_range_settings_are_refused_before_anything_starts(home, recorded):
    at = train_view()
    labelled(at.selectbox, "Layer widths").set_value("other")
    labelled(at.text_input, "Other widths (comma-separated)").set_value("20000")
    labelled(at.button, "Start").click().run()
    assert "hidden" in " ".join(e.value for e in at.error) and not (home / "runs").exists()


def test_a_second_start_while_a_run_trains_is_refused_and_the_run_has_controls(home, recorded):
    add_run(home, recorded, "live")
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "train.py"])
    try:
        (home / "runs" / "live" / ".lock").write_text(f"pid {fake.pid}")
        at = train_view("live")
        assert {"Pause", "Step", "Stop"} <= {b.label for b in at.button}
        labelled(at.text_input, "Run name").set_value("another")
        labelled(at.button, "Start").click().run()
        assert "`live` is training: stop it first" in " ".join(e.value for e in at.error)
    finally:
        fake.kill()
        fake.wait()


def test_a_viewer_who_may_not_train_watches_read_only(home, recorded, monkeypatch):
    add_run(home, recorded, "r")
    monkeypatch.setattr(train_panel, "training_allowed", lambda: False)
    at = train_view("r")
    assert "read-only" in texts(at)
    assert not {"Start", "Resume", "Pause", "Stop", "Step"} & {b.label for b in at.button}
