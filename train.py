"""Train a VAE on MNIST or Fashion-MNIST: python train.py --help."""
import argparse
import fcntl
import json
import os
import signal
import sys
import time
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from types import SimpleNamespace

import torch
from tqdm import tqdm

from vae_core import data
from vae_core.checkpoint import load_checkpoint, read_payload, save_checkpoint
from vae_core.errors import CheckpointError, DataError
from vae_core.figures import canvas, encode_all
from vae_core.history import path_for as history_path
from vae_core.history import thinned
from vae_core.model import VAE, VAEConfig
from vae_core.recording import Control, Recorder
from vae_core.sealed import write_atomic
from vae_core.training import (
    QUICK,
    NonFiniteLoss,
    TrainConfig,
    batches,
    beta_at,
    evaluate,
    evaluate_iw,
    init_output_bias,
    lr_at,
    make_optimizer,
    train_one_epoch,
)

# The conv variant's fully connected part: one layer of 256 between the convolutions and z. The MLP's
# three layers there cost 34 s per epoch instead of 25 for the same test -ELBO after an epoch.
CONV_HIDDEN = [256]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _flag(key: str, value) -> str:
    name = key.replace("_", "-")
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no-{name}"
    return f"--{name} {_shown(value)}"


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def decay(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 512,256, got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths like 512,256, got {text!r}")
    return sizes


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    mcfg, tcfg = VAEConfig(), TrainConfig()  # the defaults live in the configs, not here
    p.add_argument("--dataset", choices=data.DATASETS, default=tcfg.dataset)
    p.add_argument("--arch", choices=("mlp", "conv"), default=mcfg.arch, help="encoder/decoder type")
    p.add_argument("--latent-dim", type=positive_int, default=mcfg.latent_dim, help="size of z")
    p.add_argument("--hidden", type=hidden_sizes, default=None,
                   help=f"encoder widths; decoder mirrors (default: {_shown(mcfg.hidden)} for the MLP, "
                        f"{_shown(CONV_HIDDEN)} between the convolutions and z for conv)")
    p.add_argument("--epochs", type=positive_int, default=tcfg.epochs,
                   help="total epochs, counting resumed ones; the cosine schedule spans them")
    p.add_argument("--batch-size", type=positive_int, default=tcfg.batch_size)
    p.add_argument("--quick", action="store_true",
                   help="the quick preset (a 2-D MNIST model worth exploring in about 30 s on a laptop): "
                        + " ".join(_flag(k, v) for k, v in QUICK.items())
                        + " --no-pictures; flags given beside it still apply")
    p.add_argument("--lr", type=positive_float, default=tcfg.lr, help="Adam peak learning rate (cosine decay)")
    p.add_argument("--warmup", type=fraction, default=tcfg.warmup,
                   help="fraction of the steps spent ramping the learning rate up linearly before the cosine")
    p.add_argument("--final-lr", type=fraction, default=tcfg.final_lr,
                   help="where the cosine ends, as a fraction of --lr")
    p.add_argument("--adam-beta2", type=decay, default=tcfg.adam_beta2,
                   help="Adam's second-moment decay (0.999 is torch's; the quick preset adapts faster)")
    p.add_argument("--output-bias", action=argparse.BooleanOptionalAction, default=tcfg.output_bias,
                   help="start the decoder's last bias at the logit of the mean training pixel")
    p.add_argument("--beta", type=float, default=tcfg.beta, help="KL weight")
    p.add_argument("--kl-warmup", type=fraction, default=tcfg.kl_warmup,
                   help="fraction of the steps over which the KL weight ramps up linearly to --beta (0 = none)")
    p.add_argument("--seed", type=int, default=tcfg.seed)
    p.add_argument("--subset", type=int, default=tcfg.subset,
                   help="train on the first N training images only, for a quick experiment (0 = all)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: runs/DATASET-ARCH-zD)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--iw-samples", type=int, default=1000, help="k of the IW test bound at the end; 0 skips")
    p.add_argument("--export", type=Path, default=None,
                   help="also write a slim copy of the final model (no optimizer state) here, e.g. checkpoints/NAME.pt")
    p.add_argument("--history", action=argparse.BooleanOptionalAction, default=True,
                   help="record the run's history (OUT/model.history: the map's frames, curves and decodes) "
                        "for the app's Train view and replay; it does not change the weights")
    p.add_argument("--thin-history", type=positive_int, default=1, metavar="K",
                   help="the --export copy's history keeps every K-th frame (and the first, the epochs' ends)")
    p.add_argument("--no-pictures", dest="pictures", action="store_false",
                   help="skip the reconstructions, loss curve, canvas and scatter at the end")
    p.add_argument("--data-root", type=Path, default=None, help=f"data folder (default: ${data.DATA_ROOT_ENV} or data/)")
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        p.set_defaults(**{k: (_shown(v) if k == "hidden" else v) for k, v in QUICK.items()}, pictures=False)
    args = p.parse_args(argv)
    if args.beta < 0:
        p.error(f"--beta must be >= 0, got {args.beta}")
    if args.hidden is None:
        args.hidden = CONV_HIDDEN if args.arch == "conv" else VAEConfig().hidden
    if args.subset < 0:
        p.error(f"--subset must be >= 0, got {args.subset}")
    if args.iw_samples < 0:
        p.error(f"--iw-samples must be >= 0, got {args.iw_samples}")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.out is None:
        args.out = Path("runs") / f"{args.dataset}-{args.arch}-z{args.latent_dim}"
    return args


def write_pictures(out: Path, model: VAE, test: data.Split, x_test: torch.Tensor, rows: list[dict]) -> None:
    """Reconstructions, loss curve, and for a 2-D latent the seed's canvas and scatter."""
    from torchvision.utils import save_image  # ~2 s of imports, kept off the start-up path: the pictures only

    from plots import latent_map, loss_curve  # plotly, kept off the start-up path: the pictures only
    model = model.cpu().eval()
    with torch.inference_mode():
        originals = x_test[:16].cpu()
        recon = torch.sigmoid(model.decode(model.encode(originals)[0])).view(-1, 1, 28, 28)
    save_image(torch.cat([originals, recon]), out / "reconstructions.png", nrow=16)
    loss_curve(rows).write_html(out / "loss_curve.html", include_plotlyjs="directory")
    if model.cfg.latent_dim == 2:
        save_image(canvas(model, n=20, extent=3.0), out / "canvas.png")
        mu, _ = encode_all(model, x_test.cpu())
        fig = latent_map(mu.numpy(), test.labels.numpy(), test.classes)
        fig.write_html(out / "scatter.html", include_plotlyjs="directory")


_DATA: dict = {}  # (dataset, train, root) -> Split, loaded while a waiting worker waits


def preloaded(dataset: str, train_split: bool, root) -> data.Split:
    key = (dataset, train_split, str(root))
    if key not in _DATA:
        _DATA[key] = data.load(dataset, train_split, root)
    return _DATA[key]


WAIT_LIMIT = 600  # seconds a waiting worker waits for its job before it leaves


def wait_for_job(job: Path, data_root) -> int:
    """`train.py --wait-for JOB`: import torch and read MNIST now, then wait for JOB (JSON {"argv": [...],
    "log": path}, written by the app's Train view) and run it, its output going to the log. The Train
    view keeps one such worker waiting, so a Start's first frame does not wait for torch's import."""
    parent = os.getppid()
    try:
        for split in (True, False):
            preloaded("mnist", split, data_root)
    except DataError:
        pass  # the job's own load says so
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # its first construction imports torch._dynamo: 1.7 s
    deadline = time.monotonic() + WAIT_LIMIT
    while not job.exists():
        if time.monotonic() > deadline or os.getppid() != parent:  # nobody will send one
            return 0
        time.sleep(0.01)
    try:
        order = json.loads(job.read_text()[:100_000])
        argv, log = [str(a) for a in order["argv"]], order.get("log")
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"error: {job}: not a job ({e})", file=sys.stderr)
        return 2
    finally:
        job.unlink(missing_ok=True)
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    return main(argv)


def main(argv=None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    if raw[:1] == ["--wait-for"] and len(raw) in (2, 4):
        root = Path(raw[3]) if len(raw) == 4 and raw[2] == "--data-root" else None
        return wait_for_job(Path(raw[1]), root)
    args = parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"error: cannot use --out {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    try:
        with RunLock(args.out):
            return train(args)
    except RunLock.Busy as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except CheckpointError as e:  # disk full or unwritable while saving: the last good file stays
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: {interrupted_note(args)}", file=sys.stderr)
        return 130


class RunLock:
    """An exclusive lock on a run folder (flock on OUT/.lock), so two runs never write one folder.
    The kernel drops it when its process dies, so a killed run's lock is simply taken over."""

    class Busy(RuntimeError):
        pass

    def __init__(self, out: Path):
        self.path = out / ".lock"

    def __enter__(self):
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise self.Busy(f"{self.path.parent} is in use by another train.py ({holder}); wait for it to "
                            "finish or choose another --out") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"pid {os.getpid()}")
        self.file.flush()
        for stale in self.path.parent.glob(".*.tmp"):  # a killed run's half-written file; ours now
            stale.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc):
        self.file.close()  # releases the flock


def interrupted_note(args) -> str:
    """Where an interrupted run stands and how to continue it, in one line."""
    try:
        epoch = read_payload(args.out / "model.pt")["extra"].get("epoch", 0)
    except (CheckpointError, KeyError, AttributeError):
        return f"no epoch finished, nothing saved in {args.out}"
    return (f"{args.out / 'model.pt'} holds epoch {epoch}; continue with: python train.py --out {args.out} "
            f"--resume --epochs {args.epochs}")


def write_log(out: Path, rows: list[dict]) -> None:
    """metrics.jsonl, rewritten whole from the checkpoint's history: after a kill it is never
    ahead of model.pt, and --resume cuts it back to exactly the checkpoint's epochs."""
    write_atomic(out / "metrics.jsonl", ["".join(json.dumps(r) + "\n" for r in rows).encode()])


def resume_state(ckpt_path: Path, args) -> tuple[VAE, dict, TrainConfig]:
    model, payload = load_checkpoint(ckpt_path)
    try:
        extra = payload["extra"]
        tcfg = TrainConfig(**{**extra["train_config"], "epochs": args.epochs, "device": args.device})
        extra["epoch"], extra["history"], extra["optimizer"], extra["generator"], extra["torch_rng"]
    except (KeyError, TypeError) as e:
        raise CheckpointError(ckpt_path, f"holds no training state to resume from (missing {e}); "
                                         "an --export copy cannot be resumed") from None
    if payload["integrity"] == "legacy":
        print(f"note: {ckpt_path} was written before checkpoints carried a digest; the next save adds one")
    return model, payload, tcfg


def new_run(args) -> tuple[VAE, TrainConfig]:
    """The model and the training config a fresh run starts from, as the arguments ask. The config's
    bounds (vae_core/model.py: the loader's) are checked before anything is allocated."""
    tcfg = TrainConfig(dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       beta=args.beta, seed=args.seed, iw_samples=args.iw_samples, device=args.device,
                       warmup=args.warmup, final_lr=args.final_lr, output_bias=args.output_bias, subset=args.subset,
                       kl_warmup=args.kl_warmup, adam_beta2=args.adam_beta2)
    return VAE(VAEConfig(arch=args.arch, latent_dim=args.latent_dim, hidden=args.hidden)), tcfg


_stopping = False  # SIGTERM (the app's Stop): finish the step, save, stop


def _on_sigterm(signum, frame) -> None:
    global _stopping
    _stopping = True


class Stopped(Exception):
    """Raised between two steps when the run is asked to stop (SIGTERM or the control file)."""


class Refused(Exception):
    """A run that cannot start: the exit code and one line."""

    def __init__(self, code: int, line: str):
        super().__init__(line)
        self.code = code


def prepare(args) -> SimpleNamespace:
    """Everything a run needs before its first step: the model (new or resumed), data, optimizer,
    the step counter and schedules, the history recorder, the control file."""
    r = SimpleNamespace(out=args.out, ckpt_path=args.out / "model.pt", rows=[], start_epoch=0, partial=None,
                        payload=None)
    torch.manual_seed(args.seed)
    r.gen = torch.Generator().manual_seed(args.seed)
    if args.resume:
        try:
            r.model, r.payload, r.tcfg = resume_state(r.ckpt_path, args)
        except CheckpointError as e:
            raise Refused(2, f"cannot resume: {e}") from None
        r.start_epoch = r.payload["extra"]["epoch"]
        r.partial = r.payload["extra"].get("partial")
        r.rows = list(r.payload["extra"]["history"])[:r.start_epoch]
        write_log(r.out, r.rows)  # a kill between the checkpoint and the log leaves no duplicate epoch
    else:
        try:
            r.model, r.tcfg = new_run(args)
        except ValueError as e:
            raise Refused(2, str(e)) from None
    try:
        train_split = preloaded(r.tcfg.dataset, True, args.data_root)
        r.test_split = preloaded(r.tcfg.dataset, False, args.data_root)
    except DataError as e:
        raise Refused(2, str(e)) from None
    device = torch.device(r.tcfg.device)
    r.x_train, r.x_test = train_split.floats().to(device), r.test_split.floats().to(device)
    if r.tcfg.subset:
        r.x_train = r.x_train[:r.tcfg.subset]
    if r.tcfg.output_bias and not args.resume:
        init_output_bias(r.model, r.x_train)
    r.model.to(device)
    r.optimizer = make_optimizer(r.model, r.tcfg.lr, r.tcfg.adam_beta2)
    r.steps_per_epoch = -(-len(r.x_train) // r.tcfg.batch_size)
    r.total_steps = r.tcfg.epochs * r.steps_per_epoch
    if args.resume:
        extra = r.payload["extra"]
        r.optimizer.load_state_dict(extra["optimizer"])
        r.gen.set_state(extra["generator"].clone())
        torch.set_rng_state(extra["torch_rng"].clone())
        where = f"step {r.partial['steps']} of epoch {r.start_epoch + 1}" if r.partial else f"epoch {r.start_epoch + 1}"
        print(f"resuming {r.ckpt_path} at {where}/{r.tcfg.epochs}")
    r.step = r.start_epoch * r.steps_per_epoch + (r.partial["steps"] if r.partial else 0)
    r.control, r.recorder = Control(r.out / ".control", resuming=args.resume), None
    return r


def start_recording(args, r: SimpleNamespace) -> None:
    if not args.history:
        return
    t, m = r.tcfg, r.model.cfg
    settings = {"dataset": t.dataset, "arch": m.arch, "latent_dim": m.latent_dim, "hidden": m.hidden, "beta": t.beta,
                "kl_warmup": t.kl_warmup, "batch_size": t.batch_size, "lr": t.lr, "seed": t.seed,
                "classes": r.test_split.classes}
    r.recorder = Recorder(history_path(r.ckpt_path), r.model, r.x_test, r.test_split.labels.numpy(), settings,
                          r.steps_per_epoch, t.epochs, resume_step=r.step if args.resume else None)
    if not args.resume:
        r.recorder.frame(0, {})  # the initial blob, before any step


def train(args) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        r = prepare(args)
    except Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    if r.start_epoch >= r.tcfg.epochs:
        print(f"{r.ckpt_path} already has {r.start_epoch} epochs; ask for more with --epochs")
        return 0
    print(f"{r.tcfg.dataset} {r.model.cfg.arch} z={r.model.cfg.latent_dim} hidden={r.model.cfg.hidden} on "
          f"{r.tcfg.device}, {sum(p.numel() for p in r.model.parameters()):,} parameters -> {r.out}", flush=True)
    start_recording(args, r)
    for epoch in range(r.start_epoch, r.tcfg.epochs):
        code = run_epoch(r, epoch)
        if code is not None:
            return code
    code = finish(args, r.model, r.tcfg, r.rows, r.extra, r.test_split, r.x_test)
    if r.recorder is not None and code == 0:
        r.recorder.stop(r.step, "finished")
        if args.export is not None and r.recorder.on:  # a shipped model's replay lies beside it
            write_atomic(history_path(args.export), [thinned(history_path(r.ckpt_path), args.thin_history)])
    return code


def run_epoch(r: SimpleNamespace, epoch: int) -> int | None:
    """One epoch (or what is left of a stopped one), saved; an exit code when the run ends here."""
    t, spe = r.tcfg, r.steps_per_epoch

    def schedule() -> float:
        r.step += 1
        return lr_at(r.step - 1, r.total_steps, t.lr, t.warmup, t.final_lr)

    def beta() -> float:
        return beta_at(r.step - 1, r.total_steps, t.beta, t.kl_warmup)

    t0 = time.perf_counter()
    if r.partial:
        r.gen.set_state(r.partial["generator"].clone())
    epoch_gen = r.gen.get_state()  # a stop mid-epoch resumes this epoch's order from here
    done = (r.partial["loss_sum"], r.partial["count"]) if r.partial else (0.0, 0)
    skip = r.partial["steps"] if r.partial else 0
    r.partial = None
    progress = {"total": done[0], "count": done[1], "steps": skip}

    def on_step(loss, nll, kl, total, count):
        progress.update(total=total, count=count, steps=progress["steps"] + 1)
        if r.recorder is not None:
            r.recorder.step(r.step, loss, nll, kl, r.optimizer.param_groups[0]["lr"], beta_at(
                r.step - 1, r.total_steps, t.beta, t.kl_warmup), force=r.control.cmd == "step")
        if r.step < r.total_steps and r.step % spe and r.control.wait(lambda: _stopping) == "stop":
            raise Stopped

    try:
        train_loss = epoch_with_bar(r.model, islice(batches(r.x_train, t.batch_size, r.gen), skip, None), r.optimizer,
                                    t, schedule, beta, f"epoch {epoch + 1}/{t.epochs}", spe, on_step, done)
    except NonFiniteLoss as e:
        print(f"error: epoch {epoch + 1}: {e}; stopped, {r.ckpt_path} keeps the last good epoch "
              f"(try a lower --lr)", file=sys.stderr)
        return 1
    except Stopped:
        return save_stopped(r, epoch, progress, epoch_gen)
    seconds = time.perf_counter() - t0
    torch_rng = torch.get_rng_state()  # evaluation draws noise too; keep training's stream intact
    test_metrics = evaluate(r.model, r.x_test)
    torch.set_rng_state(torch_rng)
    row = {"epoch": epoch + 1, "train_neg_elbo": train_loss, "test_neg_elbo": test_metrics["neg_elbo"],
           "test_nll": test_metrics["nll"], "test_kl": test_metrics["kl"], "seconds": seconds}
    r.rows.append(row)
    r.extra = {"epoch": epoch + 1, "train_config": asdict(t), "history": r.rows,
               "optimizer": r.optimizer.state_dict(), "generator": r.gen.get_state(), "torch_rng": torch.get_rng_state()}
    if r.recorder is not None:
        r.recorder.epoch(epoch + 1, r.step, row)
    save_checkpoint(r.ckpt_path, r.model, dataset=t.dataset, metrics=test_metrics_summary(r.rows), extra=r.extra)
    write_log(r.out, r.rows)
    print(f"epoch {epoch + 1:3d}/{t.epochs}  train -ELBO {train_loss:7.2f}  test -ELBO "
          f"{row['test_neg_elbo']:7.2f} (NLL {row['test_nll']:.2f} + KL {row['test_kl']:.2f})  {seconds:5.1f} s",
          flush=True)
    if epoch + 1 < t.epochs and r.control.wait(lambda: _stopping) == "stop":  # a stop asked at an epoch's end
        if r.recorder is not None:
            r.recorder.stop(r.step, "stopped")
        print(f"stopped after epoch {epoch + 1}; continue with: python train.py --out {r.out} --resume "
              f"--epochs {t.epochs}", flush=True)
        return 0
    return None


def save_stopped(r: SimpleNamespace, epoch: int, progress: dict, epoch_gen: torch.Tensor) -> int:
    """A stop mid-epoch: the checkpoint holds the weights, the optimizer and where in the epoch's order
    the run was, so --resume goes on bit for bit as if it had not stopped."""
    extra = {"epoch": epoch, "train_config": asdict(r.tcfg), "history": r.rows, "optimizer": r.optimizer.state_dict(),
             "generator": epoch_gen, "torch_rng": torch.get_rng_state(),
             "partial": {"steps": progress["steps"], "loss_sum": progress["total"], "count": progress["count"],
                         "generator": epoch_gen}}
    metrics = test_metrics_summary(r.rows) if r.rows else {"epochs": epoch}
    save_checkpoint(r.ckpt_path, r.model, dataset=r.tcfg.dataset, metrics=metrics, extra=extra)
    if r.recorder is not None:
        r.recorder.stop(r.step, "stopped")
    print(f"stopped at step {r.step} (epoch {epoch + 1}, step {progress['steps']} of {r.steps_per_epoch}); "
          f"{r.ckpt_path} holds it; continue with: python train.py --out {r.out} --resume --epochs {r.tcfg.epochs}",
          flush=True)
    return 0


def epoch_with_bar(model: VAE, batches, optimizer, tcfg: TrainConfig, schedule, beta, desc: str, steps: int,
                   on_step=None, start=(0.0, 0)) -> float:
    """One epoch with a live bar on a terminal only; in a log the epoch lines are the progress."""
    bar = tqdm(total=steps, desc=desc, leave=False, unit="step", disable=None)

    def report(loss, *rest):
        bar.update()
        bar.set_postfix(loss=f"{loss:.1f}")
        if on_step is not None:
            on_step(loss, *rest)
    try:
        return train_one_epoch(model, batches, optimizer, beta, schedule, on_step=report, start=start)
    finally:
        bar.close()


def finish(args, model: VAE, tcfg: TrainConfig, rows: list[dict], extra: dict, test_split: data.Split,
           x_test: torch.Tensor) -> int:
    """After the last epoch: the IW bound, the final checkpoint, the export and the pictures."""
    ckpt_path = args.out / "model.pt"
    metrics = test_metrics_summary(rows)
    if tcfg.iw_samples > 0:
        bar = tqdm(total=len(x_test), desc=f"IW-{tcfg.iw_samples} test bound", unit="img", disable=None)
        metrics[f"test_iw{tcfg.iw_samples}"] = evaluate_iw(model, x_test, tcfg.iw_samples, progress=bar.update)
        bar.close()
        print(f"test IW-{tcfg.iw_samples} bound: {metrics[f'test_iw{tcfg.iw_samples}']:.2f} nats")
    save_checkpoint(ckpt_path, model, dataset=tcfg.dataset, metrics=metrics, extra=extra)
    if args.export is not None:
        save_checkpoint(args.export, model, dataset=tcfg.dataset, metrics=metrics,
                        extra={"train_config": asdict(tcfg), "history": rows})
        print(f"exported {args.export} ({args.export.stat().st_size / 1e6:.1f} MB)")
    if args.pictures:
        try:
            write_pictures(args.out, model, test_split, x_test, rows)
        except OSError as e:
            print(f"error: could not write the pictures to {args.out} ({e.strerror or e}); model.pt is saved",
                  file=sys.stderr)
            return 1
    print(f"wrote {ckpt_path}, metrics.jsonl{' and pictures' if args.pictures else ''} to {args.out}")
    return 0


def test_metrics_summary(rows: list[dict]) -> dict:
    last = rows[-1]
    return {"epochs": last["epoch"], "test_neg_elbo": last["test_neg_elbo"], "test_nll": last["test_nll"],
            "test_kl": last["test_kl"], "train_neg_elbo": last["train_neg_elbo"]}


if __name__ == "__main__":
    sys.exit(main())
