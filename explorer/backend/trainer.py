"""Training from the app: train.py runs in its own process (the server never trains), one run at a
time per server. A worker that has already imported torch and read MNIST waits for the next Start
(`train.py --wait-for JOB`), so a Start's first frame does not wait for the imports. The app finds
runs again from their folders alone (a run outlives the session that started it and the server):
runs/NAME/ holds model.pt, model.history, train.log, .lock (the running train.py's pid) and .control.
No torch here."""
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from explorer.backend import picker
from vae_core import history
from vae_core.sealed import write_atomic

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HISTORY = re.compile(r"^(runs/[A-Za-z0-9][A-Za-z0-9._-]{0,63}/model|checkpoints/[A-Za-z0-9][A-Za-z0-9._-]{0,63})"
                     r"\.history$")
_lock = threading.Lock()
_spare: tuple | None = None  # (Popen, job path) of the worker waiting for a Start
_running = None  # the Popen of the last Start: no spare worker is started while it trains
_children: list = []  # processes started here, reaped as they end


def write_control(out: Path, cmd: str, seq: int) -> None:
    """OUT/.control, which train.py reads between two steps (vae_core/recording.py: Control)."""
    write_atomic(Path(out) / ".control", [json.dumps({"cmd": cmd, "seq": seq}).encode()])


def pid_alive(out: Path) -> int | None:
    """The pid of the train.py holding OUT's run lock, or None (no run, or its process is gone)."""
    try:
        text = (Path(out) / ".lock").read_text()[:64]
        pid = int(text.split()[-1])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"train.py" in cmdline else None


def runs_dir() -> Path:
    return picker.home() / "runs"


def data_root() -> Path:
    return picker.REPO / os.environ.get("VAE_DATA_ROOT", "data")


@dataclass(frozen=True)
class Run:
    name: str  # the folder under runs/
    pid: int | None  # its train.py while it trains

    @property
    def folder(self) -> Path:
        return runs_dir() / self.name

    @property
    def history(self) -> str:
        return f"runs/{self.name}/model.history"

    @property
    def checkpoint(self) -> str:
        return f"runs/{self.name}/model.pt"


def runs() -> list[Run]:
    """Run folders with a history or a live train.py, newest first (no symlinks followed)."""
    _reap()
    top = runs_dir()
    if top.is_symlink() or not top.is_dir():
        return []
    found = []
    for entry in os.scandir(top):
        if entry.name.startswith(".") or not NAME.match(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        folder = Path(entry.path)
        pid = pid_alive(folder)
        hist = folder / "model.history"
        if pid is not None or hist.is_file():
            found.append((hist.stat().st_mtime if hist.is_file() else 1e18, Run(entry.name, pid)))
    return [r for _, r in sorted(found, key=lambda t: -t[0])]


def live() -> Run | None:
    return next((r for r in runs() if r.pid is not None), None)


def history_file(rel: str) -> Path:
    """The history file a page may ask for, by its path under the home folder; ValueError otherwise
    (a path that is not one, or through a symlink)."""
    if not isinstance(rel, str) or not HISTORY.match(rel):
        raise ValueError("not a history")
    path = picker.home() / rel
    for part in (path.parent, path):
        if part.is_symlink():
            raise ValueError("not a history")
    return path


def _reap() -> None:
    with _lock:
        _children[:] = [p for p in _children if p.poll() is None]


def _spawn_worker() -> tuple:
    jobs = runs_dir() / ".jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    job = jobs / f"{secrets.token_hex(8)}.json"
    proc = subprocess.Popen([sys.executable, str(picker.REPO / "train.py"), "--wait-for", str(job),
                             "--data-root", str(data_root())], cwd=picker.home(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "TQDM_DISABLE": "1"})
    _children.append(proc)
    return proc, job


def keep_worker_waiting() -> None:
    """A worker waiting for the next Start (started when the Train view is shown to a viewer who may train)."""
    global _spare
    with _lock:
        going = _running is not None and _running.poll() is None
    if going or live() is not None:  # no Start until it ends (one run at a time): a worker's start-up would slow it
        return
    with _lock:
        if _spare is None or _spare[0].poll() is not None:
            _spare = _spawn_worker()


class Refused(ValueError):
    """A Start or Resume that cannot be: one line saying why."""


def start(argv: list[str], name: str) -> Run:
    """Run train.py with these arguments (--out runs/NAME added) on the waiting worker."""
    global _spare, _running
    if not NAME.match(name or ""):
        raise Refused("a run name is letters, digits, '.', '_' or '-' (64 at most), not a path")
    going = live()
    if going is not None and going.name != name:
        raise Refused(f"`{going.name}` is training: stop it first (one run at a time on this server)")
    if going is not None:
        raise Refused(f"`{name}` is training already")
    folder = runs_dir() / name
    resume = "--resume" in argv
    if not resume and folder.exists():
        raise Refused(f"a run named `{name}` exists already: choose another name")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".control").unlink(missing_ok=True)
    with _lock:
        if _spare is None or _spare[0].poll() is not None:
            _spare = _spawn_worker()
        proc, job = _spare
        _spare, _running = None, proc
    write_atomic(job, [json.dumps({"argv": [*argv, "--out", str(folder), "--data-root", str(data_root())],
                                   "log": str(folder / "train.log")}).encode()])
    return Run(name, proc.pid)


def control(run: Run, cmd: str, seq: int) -> None:
    """Pause, run on, step once, stop (the run saves where it is and can be resumed)."""
    write_control(run.folder, cmd, seq)
    if cmd == "stop" and run.pid is not None:
        try:
            os.kill(run.pid, signal.SIGTERM)
        except OSError:
            pass


def last_line(run: Run) -> str:
    """The run's last line of output (its error, when it ended with one)."""
    try:
        with open(run.folder / "train.log", "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4000))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").replace("\r", "\n").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1][:300] if lines else ""


def state_of(run: Run) -> tuple[str, int, str]:
    """('training' | 'finished' | 'stopped' | 'ended' (killed, or an error) | 'damaged', epochs saved,
    why a damaged history is refused) of a run."""
    try:
        h = history.read(run.folder / "model.history", final=False)
    except history.HistoryError as e:
        return ("training" if run.pid is not None else "damaged"), 0, str(e)
    if run.pid is not None:
        return "training", len(h.epochs), ""
    if h.stop is not None:
        return ("finished" if h.finished else "stopped"), len(h.epochs), ""
    return "ended", len(h.epochs), ""
