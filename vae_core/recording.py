"""Recording a run's history while it trains (vae_core/history.py is the format), and the run's
control file: what train.py does between two Adam steps.

Recording never changes the run: it encodes with the posterior means only (no noise drawn), decodes
fixed points of its own, and leaves the model in training mode, so the same seed gives the same
weights with and without a history (tests/unit/test_history.py).
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vae_core import history
from vae_core.latents import kl_per_dim
from vae_core.sealed import write_atomic


class Recorder:
    """Appends frames to OUT/model.history. A write that fails (a full disk) stops the recording with
    one line; training goes on."""

    def __init__(self, path: Path, model, x_test: torch.Tensor, labels: np.ndarray, settings: dict,
                 steps_per_epoch: int, epochs: int, resume_step: int | None = None):
        self.path, self.model, self.x_test = Path(path), model, x_test
        self.spe, self.every = steps_per_epoch, history.frame_steps(steps_per_epoch, epochs)
        self.tracked = history.tracked_digits(labels)
        self.x_tracked = x_test[torch.as_tensor(self.tracked.astype(np.int64))]
        d = model.cfg.latent_dim
        self.grid_z = torch.as_tensor(grid_points(d), dtype=torch.float32)
        self.basis, self.sums, self.frames, self.t0, self.t_before = None, [0.0, 0.0, 0.0, 0], 0, time.perf_counter(), 0.0
        self.on = True
        if resume_step is not None and self._cut_back(resume_step):
            return
        self._write(history.MAGIC + history.encode(b"RUN_", {**settings, "steps_per_epoch": steps_per_epoch,
                                                           "epochs": epochs, "frame_steps": self.every,
                                                           "grid": "canvas" if d == 2 else "prior",
                                                           "grid_n": history.GRID, "from_step": resume_step or 0},
                                                   {"tracked": self.tracked, "labels": labels[self.tracked].astype(np.uint8),
                                                    "labels_all": labels.astype(np.uint8)}), "wb")

    def _cut_back(self, step: int) -> bool:
        """A resumed run: the history cut back to the checkpoint's step (a killed run recorded past
        it), then appended to. False when there is none to keep (a new one is started)."""
        try:
            old = history.read(self.path, final=False)
            buf = self.path.read_bytes()
            records = history.parse(buf, len(history.MAGIC), final=False)[0]
        except (history.HistoryError, OSError) as e:
            if self.path.exists():
                print(f"history: {self.path} {e}; a new one starts at step {step}", file=sys.stderr)
            return False
        keep = [r for r in records if r.kind == "RUN_" or r.meta.get("step", 0) <= step]  # in their order
        frames = [r for r in keep if r.kind == "FRAM"]
        if frames:
            self.frames, self.t_before = len(frames), frames[-1].meta["t"]
            self.basis = (torch.tensor(frames[-1].meta["basis"], dtype=torch.float64)
                          if "basis" in frames[-1].meta else None)
        del old
        blob = history.MAGIC + b"".join(history.encode(r.kind.encode(), {k: v for k, v in r.meta.items()
                                                                        if k != "arrays"}, r.arrays) for r in keep)
        try:
            write_atomic(self.path, [blob])
        except OSError as e:
            self._failed(e)
        self.t0 = time.perf_counter()
        return True

    def _write(self, data: bytes, mode: str = "ab") -> None:
        if not self.on:
            return
        try:
            if mode == "ab" and self.path.stat().st_size + len(data) > history.MAX_BYTES - (1 << 20):
                print(f"history: {self.path} reached {history.MAX_BYTES >> 20} MB; recording stopped, "
                      "training goes on", file=sys.stderr)
                self.on = False
                return
            with open(self.path, mode) as f:
                f.write(data)  # one write per record: a reader sees it whole or not yet
        except OSError as e:
            self._failed(e)

    def _failed(self, e: OSError) -> None:
        print(f"history: could not write {self.path} ({e.strerror or e}); recording stopped, training goes on",
              file=sys.stderr)
        self.on = False

    def seconds(self) -> float:
        return self.t_before + time.perf_counter() - self.t0

    def step(self, step: int, loss: float, nll: float, kl: float, lr: float, beta: float, force: bool = False) -> None:
        """After Adam step number `step` (1-based over the run): a frame when one is due."""
        s = self.sums
        s[0] += loss
        s[1] += nll
        s[2] += kl
        s[3] += 1
        if force or step % self.every == 0 or (step & (step - 1) == 0 and step < self.every) or step % self.spe == 0:
            n = s[3]
            self.frame(step, {"loss": s[0] / n, "nll": s[1] / n, "kl": s[2] / n, "lr": lr, "beta": beta})
            self.sums = [0.0, 0.0, 0.0, 0]

    @torch.no_grad()
    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        was = self.model.training
        self.model.eval()
        try:
            out = [self.model.encode(x[i:i + 2000]) for i in range(0, len(x), 2000)]
        finally:
            self.model.train(was)
        return torch.cat([o[0] for o in out]).double().cpu(), torch.cat([o[1] for o in out]).double().cpu()

    def frame(self, step: int, curves: dict) -> None:
        if not self.on:
            return
        mu, logvar = self._encode(self.x_tracked)
        self.basis = plane(mu, self.basis)
        arrays = {"xy": (mu @ self.basis).numpy().astype(np.float16),
                  "kl": kl_per_dim(mu.numpy(), logvar.numpy()).astype(np.float32)}
        if self.frames % history.DECODE_EVERY == 0 or self.frames < 4 or step % self.spe == 0:
            arrays["img"] = self._decodes()
        meta = {"step": step, "epoch": round(step / self.spe, 4), "t": round(self.seconds(), 3),
                **{k: round(float(v), 4) for k, v in curves.items()}}
        if self.model.cfg.latent_dim > 2:
            meta["basis"] = np.round(self.basis.numpy(), 6).tolist()
        self._write(history.encode(b"FRAM", meta, arrays))
        self.frames += 1

    @torch.no_grad()
    def _decodes(self) -> np.ndarray:
        was = self.model.training
        self.model.eval()
        try:
            p = torch.sigmoid(self.model.decode(self.grid_z.to(next(self.model.parameters()).device)))
        finally:
            self.model.train(was)
        return (p.reshape(-1, 28, 28).cpu().numpy() * 255).round().astype(np.uint8)

    def epoch(self, epoch: int, step: int, row: dict) -> None:
        """An epoch's end: its test figures (the curves' markers)."""
        self._write(history.encode(b"EPOC", {"step": step, "epoch": epoch,
                                             **{k: round(float(v), 4) for k, v in row.items() if k != "epoch"}}))

    def stop(self, step: int, reason: str) -> None:
        self._write(history.encode(b"STOP", {"step": step, "reason": reason, "t": round(self.seconds(), 3)}))


def plane(mu: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
    """A 2-D view of the means for the map: z itself for a 2-D latent, else the two principal axes
    (their signs kept pointing as the previous frame's, so the picture does not flip). [D, 2] basis,
    float64. In torch, not numpy: numpy's OpenBLAS would start its own threads beside torch's, and
    they spin after each call, taking the cores from the training (latent 16: 5.7 s/epoch, not 3.8)."""
    d = mu.shape[1]
    if d == 1:
        return torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    if d == 2:
        return torch.eye(2, dtype=torch.float64)
    _, _, vt = torch.linalg.svd(mu - mu.mean(0), full_matrices=False)
    basis = vt[:2].T
    if previous is not None:
        basis = basis * torch.where((basis * previous).sum(0) < 0, -1.0, 1.0)
    return basis


def grid_points(d: int) -> np.ndarray:
    """The z a frame's decodes are drawn at: for a 2-D latent the seed's canvas (an n x n mesh over
    [-2, 2], top row +2), otherwise n * n fixed prior samples (their own seed: no draw from the run's)."""
    n = history.GRID
    if d == 2:
        v = np.linspace(-2, 2, n)
        return np.array([[x, y] for y in v[::-1] for x in v])
    if d == 1:
        return np.linspace(-2.5, 2.5, n * n)[:, None]
    return np.random.default_rng(1234).standard_normal((n * n, d))


class Control:
    """OUT/.control, written by the app: {"cmd": "run" | "pause" | "step" | "stop", "seq": n}. Read
    when its modification time changes (one stat per step); a step command runs one Adam step."""

    def __init__(self, path: Path, resuming: bool = False):
        self.path, self.stamp, self.cmd, self.seq, self.stepped = Path(path), None, "run", None, None
        if self.poll() == "stop" and resuming:  # left by the run this one resumes: it was for that one
            self.cmd = "run"

    def poll(self) -> str:
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            return self.cmd
        if stamp != self.stamp:
            self.stamp = stamp
            try:
                msg = json.loads(self.path.read_text()[:1000])
                if msg.get("cmd") in ("run", "pause", "step", "stop"):
                    self.cmd, self.seq = msg["cmd"], msg.get("seq")
            except (OSError, ValueError, AttributeError):
                pass
        return self.cmd

    def wait(self, stopping) -> str:
        """Between two steps: 'run' to go on, 'stop'; while paused, blocks until a step is asked."""
        while True:
            cmd = self.poll()
            if stopping() or cmd == "stop":
                return "stop"
            if cmd == "run":
                return "run"
            if cmd == "step" and self.seq != self.stepped:
                self.stepped = self.seq
                return "step"
            time.sleep(0.03)
