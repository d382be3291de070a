"""Many people on one explorer server: scripted sessions over Streamlit's own protocol, the
server's memory and CPU sampled meanwhile. Used by bench/load.py (N up to 100) and by the
small load test in tests/.
"""
import asyncio
import json
import os
import random
import shutil
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from testkit.st_client import ProtocolError, Session

ROOT = Path(__file__).resolve().parent.parent
# How often each action comes up in a session's script (a person exploring: mostly sliders and clicks)
MIX = {"release": 5, "prior": 1, "click": 3, "tabs": 1, "ckpt": 0.5}


@dataclass
class Results:
    latencies: dict = field(default_factory=dict)  # action -> [seconds]
    errors: list = field(default_factory=list)  # one line each: exceptions, drops, HTTP errors
    actions: int = 0

    def add(self, action: str, seconds: float | None) -> None:
        """One action done; seconds None means what the user waits for never came."""
        self.actions += 1
        if seconds is None:
            self.errors.append(f"{action}: the run ended without it")
        else:
            self.latencies.setdefault(action, []).append(seconds)

    def summary(self) -> dict:
        return {k: {"n": len(v), "median_ms": 1000 * statistics.median(v),
                    "p95_ms": 1000 * float(np.percentile(v, 95))} for k, v in sorted(self.latencies.items())}


def make_home(home: Path, second: Path | None = None) -> Path:
    """A VAE_EXPLORER_HOME with the shipped model and a second checkpoint to switch to."""
    (home / "checkpoints").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "checkpoints" / "mnist-mlp-z2.pt", home / "checkpoints" / "mnist-mlp-z2.pt")
    if second is None:
        import torch

        from vae_core.checkpoint import save_checkpoint
        from vae_core.model import VAE, VAEConfig
        torch.manual_seed(0)
        save_checkpoint(home / "checkpoints" / "small-z5.pt", VAE(VAEConfig(latent_dim=5, hidden=[64])),
                        dataset="mnist")
    return home


def is_reconstruction(el) -> bool:
    return el.WhichOneof("type") == "imgs" and any(i.caption == "from posterior mean" for i in el.imgs.imgs)


def check_media(url: str, run, results: Results) -> None:
    """Fetch every /media file the run referred to, as a browser would: a 4xx/5xx is an error."""
    for _, el in run.elements:
        if el.WhichOneof("type") != "imgs":
            continue
        for img in el.imgs.imgs:
            if img.url.startswith("/"):
                try:
                    urllib.request.urlopen(url + img.url, timeout=10).read()
                except urllib.error.HTTPError as e:
                    results.errors.append(f"HTTP {e.code} for {img.url}")


async def user(url: str, seed: int, actions: int, think: tuple[float, float], results: Results,
               checkpoints: list[str], hold=None, local_addr: tuple | None = None) -> None:
    """One person: opens the page, then `actions` scripted actions with think time between them.
    Even seeds decode on the server (the route, then a commit); odd seeds keep live decoding (commits
    from the page)."""
    rng = random.Random(seed)
    live = seed % 2 == 1
    released = False
    try:
        async with Session(url, local_addr=local_addr) as s:
            run = await s.rerun()
            results.add("page load", run.seconds)
            results.errors += run.exceptions
            toggle = next(k for k in s.widgets if k.startswith("live_"))
            if not live:
                results.errors += (await s.rerun(s.toggle(toggle, False))).exceptions
            ckpt = 0
            for _ in range(actions):
                await asyncio.sleep(rng.uniform(*think))
                action = rng.choices(list(MIX), list(MIX.values()))[0]
                if action == "release" and live:
                    action = "commit"
                runs = await act(s, action, rng, live, checkpoints, ckpt)
                if action == "ckpt":
                    ckpt = 1 - ckpt
                for name, run, seconds in runs:
                    results.add(name, seconds)
                    results.errors += run.exceptions
                    await asyncio.to_thread(check_media, url, run, results)
            if hold is not None:
                hold[0].release()
                released = True
                await hold[1].wait()
    except (ProtocolError, OSError) as e:
        results.errors.append(f"session {seed}: {type(e).__name__}: {e}"[:300])
    finally:
        if hold is not None and not released:  # failed early: still counted as done
            hold[0].release()


async def warm_up(url: str, checkpoints: list[str]) -> Results:
    """Every action once, in both decoding modes and on both checkpoints, so that the server's
    shared caches (models, encodings, figures, decoder blobs) are filled before anything is measured."""
    results = Results()
    for live in (False, True):
        async with Session(url) as s:
            results.errors += (await s.rerun()).exceptions
            if not live:
                results.errors += (await s.rerun(s.toggle(next(k for k in s.widgets if k.startswith("live_")),
                                                          False))).exceptions
            rng = random.Random(live)
            for ckpt, action in enumerate(["ckpt", "release", "prior", "click", "tabs", "ckpt", "release", "prior",
                                           "click", "tabs"]):
                for _, run, _ in await act(s, "commit" if live and action == "release" else action, rng, live,
                                           checkpoints, 1 - ckpt % 2 if action == "ckpt" else 0):
                    results.errors += run.exceptions
    return results


async def act(s: Session, action: str, rng: random.Random, live: bool, checkpoints: list[str],
              ckpt: int) -> list[tuple]:
    """Do one action; returns (name, run, seconds the user waits for what they asked for)."""
    if action == "release":  # server decoding: the page asks the route for the pixels, then commits z
        z = [round(rng.uniform(-2, 2), 3) for _ in range(latent_dim(s))]
        seconds = await asyncio.to_thread(decode_request, s, z)
        run = await s.rerun(s.component_state("live", {"z": z}), fragment_id=s.widget("live").fragment_id)
        return [("release -> digit", run, seconds)]  # the commit's run: checked for errors by the caller
    if action == "commit":
        w = s.widget("live")
        z = [round(rng.uniform(-2, 2), 3) for _ in range(latent_dim(s))]
        run = await s.rerun(s.component_state("live", {"z": z}), fragment_id=w.fragment_id)
        return [("live commit", run, run.seconds)]
    if action == "prior":
        w = s.widget("Sample from the prior")
        run = await s.rerun(s.button("Sample from the prior"), fragment_id=w.fragment_id)
        return [("prior sample", run, run.seconds)]
    if action == "click":
        run = await s.rerun(s.plotly_pick("map", rng.randrange(10_000)))
        return [("click -> reconstruction", run, run.first(is_reconstruction))]
    if action == "tabs":
        out = []
        run = await s.rerun(s.choice("tab", "Canvas"))
        out.append(("tab switch", run, run.seconds))
        run = await s.rerun(s.slider("canvas_n", rng.randint(3, 30)))
        out.append(("canvas change", run, run.seconds))
        run = await s.rerun(s.choice("tab", "Interpolate"))
        out.append(("tab switch", run, run.seconds))
        run = await s.rerun(s.number("A", rng.randrange(10_000)))
        out.append(("interpolation change", run, run.seconds))
        run = await s.rerun(s.choice("tab", "Explore"))
        out.append(("tab switch", run, run.seconds))
        return out
    if action == "ckpt":
        run = await s.rerun(s.choice("ckpt", checkpoints[1 - ckpt]))
        return [("checkpoint switch", run, run.seconds)]
    raise ValueError(action)


def decoder_header(s: Session) -> dict:
    """The header of the decoder panel's blob as last sent (explorer/weights.py: pack)."""
    from explorer.backend.weights import read_header
    return read_header(s.component_data["live"])[0]


def latent_dim(s: Session) -> int:
    return decoder_header(s)["latent_dim"]


def decode_request(s: Session, z: list[float]) -> float:
    """What the page does per frame with live decoding off: GET the server's route for z's pixels
    (explorer/remote.py). Seconds; raises on an answer that is not 784 bytes."""
    h = decoder_header(s)
    query = urllib.parse.urlencode({"m": h["model"], "z": ",".join(map(str, z))})
    started = time.perf_counter()
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(s.url))  # the route's path is absolute
    body = urllib.request.urlopen(f"{origin}{h['remote']['url']}?{query}", timeout=30).read()
    if len(body) != 784:
        raise ProtocolError(f"server decoding sent {len(body)} bytes, not 784")
    return time.perf_counter() - started


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB, from /proc (StopIteration if it has none: a zombie)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used so far (utime + stime), from /proc."""
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


class ProcessWatch:
    """Samples a process's resident memory and CPU time every `every` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float, float]] = []  # (time, RSS MB, CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def read(self) -> tuple[float, float]:
        return rss_mb(self.pid), cpu_seconds(self.pid)

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), *self.read()))
            except (OSError, StopIteration):
                return
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


async def crowd(url: str, n: int, actions: int, think: tuple[float, float], checkpoints: list[str],
                seed0: int = 0, while_held=None, addresses: list[str] = ()) -> Results:
    """n sessions at once, their starts spread over the first second. `while_held()`, if given,
    runs once every session has done its actions but before any closes (all N connected)."""
    results = Results()
    done, release = asyncio.Semaphore(0), asyncio.Event()

    async def one(k):
        await asyncio.sleep(k / max(n, 1))
        local = (addresses[k % len(addresses)], 0) if addresses else None
        await user(url, seed0 + k, actions, think, results, checkpoints, hold=(done, release), local_addr=local)

    tasks = [asyncio.create_task(one(k)) for k in range(n)]
    for _ in range(n):
        await done.acquire()
    if while_held is not None:
        await asyncio.to_thread(while_held)
    release.set()
    await asyncio.gather(*tasks)
    return results


def dumps(obj) -> str:
    return json.dumps(obj, indent=1, default=float)
