"""Training speed against the machine's floor, and time to a model worth exploring, side by side.

1. The floor: the time this run's torch.mm (and convolutions, for --arch conv) takes for every product
   of one epoch at its real shape -- forward, grad-weight, grad-input (none for the first layer's
   input) -- best of --repeats each, with torch's thread count as it is. No real loop reaches it: the
   elementwise work, the loss and Adam are left out.
2. s/epoch of the training loop, autograd and the hand-written step (vae_core/fused.py), as % of it.
3. Where a step's time goes, from torch.profiler: matrix products, elementwise, loss, Adam, and what
   no op accounts for (Python, dispatch).
4. Time to a model: `train.py --quick` and today's default recipe as subprocesses, timed from the
   moment each command starts (imports, data, training, test evaluation, checkpoint), with the
   test -ELBO after every epoch against wall-clock seconds, also as multiples of the floor epoch.

5. With --compare-conv: the conv VAE against the MLP at the same latent size, dataset and wall-clock
   budget: `train.py --quick` (MLP) and `train.py --quick --arch conv --epochs E` as subprocesses,
   their test -ELBO against wall seconds and the active units of each (Burda et al.: Cov_x(E_q[z_u])
   > 0.01 over the test set). Skips parts 1-4.
6. With --history-cost: what recording the history (the Train view's frames) costs, s/epoch of
   `train.py --quick --epochs 2` with and without --history at the latent sizes of --latent-dims,
   alternated in one run. Skips parts 1-4.

Usage: python bench/train_speed.py [--arch conv] [--latent-dim 16] [--dataset fashion-mnist]
       [--skip-recipes] [--default-epochs 10] [--device cuda]
       python bench/train_speed.py --compare-conv [--latent-dims 2,16] [--dataset fashion-mnist] [--conv-epochs 1]
       python bench/train_speed.py --history-cost [--latent-dims 2,16]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from testkit import logged_epoch_seconds
from vae_core import data
from vae_core.checkpoint import load_checkpoint
from vae_core.figures import encode_all
from vae_core.fused import MLPStep, supports
from vae_core.latents import active_units
from vae_core.model import VAE, VAEConfig
from vae_core.training import QUICK, batches, make_optimizer, train_one_epoch

ROOT = Path(__file__).resolve().parent.parent


def best_of(fn, repeats: int, sync=lambda: None) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def products(model: VAE, batch: int, device) -> list[tuple[str, callable]]:
    """(name, fn) for every product of one training step at its real shape, found by running a batch
    through the model with hooks on its Linear and conv layers."""
    seen: list[tuple[nn.Module, torch.Size, torch.Size]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, i[0].shape, o.shape)))
             for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model(torch.rand(batch, 1, 28, 28, device=device))
    for h in hooks:
        h.remove()
    ops = []
    for k, (m, shape_in, shape_out) in enumerate(seen):
        x, g = torch.rand(shape_in, device=device), torch.rand(shape_out, device=device)
        w = m.weight.detach()
        first = k == 0  # the input images need no gradient
        if isinstance(m, nn.Linear):
            out_f, out_w, out_i = torch.empty_like(g), torch.empty_like(w), torch.empty_like(x)
            ops.append((f"linear {tuple(shape_in)}x{m.out_features} fwd", lambda x=x, w=w, o=out_f: torch.mm(x, w.t(), out=o)))
            ops.append((f"linear {tuple(shape_in)}x{m.out_features} dW", lambda x=x, g=g, o=out_w: torch.mm(g.t(), x, out=o)))
            if not first:
                ops.append((f"linear {tuple(shape_in)}x{m.out_features} dX", lambda g=g, w=w, o=out_i: torch.mm(g, w, out=o)))
        else:
            tr = isinstance(m, nn.ConvTranspose2d)
            conv = F.conv_transpose2d if tr else F.conv2d
            args = {"stride": m.stride, "padding": m.padding}
            name = f"{'convT' if tr else 'conv'} {tuple(shape_in)}->{tuple(shape_out)}"
            ops.append((f"{name} fwd", lambda x=x, w=w, c=conv, a=args: c(x, w, **a)))
            mask = [not first, True, False]
            ops.append((f"{name} bwd", lambda x=x, g=g, w=w, m=m, tr=tr, mask=mask: torch.ops.aten.convolution_backward(
                g, x, w, None, m.stride, m.padding, m.dilation, tr, m.output_padding, 1, mask)))
    return ops


def floor_epoch(model: VAE, batch: int, n: int, repeats: int, device, sync) -> tuple[float, list]:
    """Seconds of one epoch (n images) of products alone, and each product's best time per step."""
    timed = [(name, best_of(fn, repeats, sync)) for name, fn in products(model, batch, device)]
    full, rest = divmod(n, batch)
    per_step = sum(t for _, t in timed)
    last = 0.0
    if rest:
        last = sum(t for _, t in [(nm, best_of(fn, repeats, sync)) for nm, fn in products(model, rest, device)])
    return full * per_step + last, timed


def epoch_seconds(cfg: VAEConfig, x: torch.Tensor, batch: int, fused: bool, sync) -> float:
    torch.manual_seed(0)
    model = VAE(cfg).to(x.device)
    opt = make_optimizer(model, 1e-3)
    gen = torch.Generator().manual_seed(0)
    sync()
    t = time.perf_counter()
    train_one_epoch(model, batches(x, batch, gen), opt, fused=fused)
    sync()
    return time.perf_counter() - t


def step_breakdown(cfg: VAEConfig, x: torch.Tensor, batch: int, steps: int = 30) -> dict:
    """ms per step by kind, from torch.profiler's self times over `steps` steps (after a warm-up)."""
    from torch.profiler import ProfilerActivity, profile
    torch.manual_seed(0)
    model = VAE(cfg)
    opt = make_optimizer(model, 1e-3)
    xb = x[:batch]
    step = MLPStep(model) if supports(model) else None

    def one():
        if step is not None:
            step(xb)
        else:
            from vae_core.losses import neg_elbo
            opt.zero_grad(set_to_none=True)
            neg_elbo(model, xb)[0].backward()
        opt.step()

    for _ in range(5):
        one()
    t = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            one()
    wall = (time.perf_counter() - t) / steps * 1e3
    kinds = {"matrix products": 0.0, "convolutions": 0.0, "Adam": 0.0, "loss (sigmoid, softplus, sums)": 0.0,
             "elementwise (ReLU, its gradient, reparameterisation, copies)": 0.0}
    for ev in prof.key_averages():
        ms = ev.self_cpu_time_total / 1e3 / steps
        name = ev.key
        if name in ("aten::mm", "aten::addmm", "aten::bmm"):
            kinds["matrix products"] += ms
        elif "conv" in name or "mkldnn" in name:
            kinds["convolutions"] += ms
        elif "adam" in name.lower():
            kinds["Adam"] += ms
        elif any(k in name for k in ("sigmoid", "log", "abs", "dot", "sum", "relu", "binary_cross", "softplus")):
            kinds["loss (sigmoid, softplus, sums)"] += ms
        else:
            kinds["elementwise (ReLU, its gradient, reparameterisation, copies)"] += ms
    kinds["not in any op (Python, dispatch, profiler)"] = max(wall - sum(kinds.values()), 0.0)
    return {"wall ms/step (profiled)": wall, **kinds}


def timed_run(args: list[str], out: Path) -> tuple[float, list[tuple[float, float]]]:
    """Run train.py; (wall seconds from start to exit, [(seconds since start, test -ELBO)] per epoch)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    curve = []
    for line in proc.stdout:
        if line.startswith("epoch"):
            curve.append((time.perf_counter() - t0, float(line.split("test -ELBO")[1].split()[0])))
    if proc.wait() != 0:
        raise SystemExit(f"train.py {' '.join(args)} failed with exit code {proc.returncode}")
    wall = time.perf_counter() - t0
    if not (out / "model.pt").exists():
        raise SystemExit("train.py wrote no checkpoint")
    return wall, curve


def compare_conv(args) -> None:
    """Part 5: conv against MLP, same dataset, latent size and (about) the same wall-clock budget."""
    x_test = data.load(args.dataset, False, args.data_root).floats()
    print(f"conv against MLP on {args.dataset} (the conv at --epochs {args.conv_epochs}); wall seconds from "
          "the command's start:")
    for latent in [int(d) for d in args.latent_dims.split(",")]:
        runs = [("MLP --quick", ["--quick"]),
                (f"conv --quick --epochs {args.conv_epochs}",
                 ["--quick", "--arch", "conv", "--hidden", "256", "--epochs", str(args.conv_epochs)])]
        with tempfile.TemporaryDirectory() as tmp:
            for name, extra in runs:
                out = Path(tmp) / name.split()[0]
                wall, curve = timed_run([*extra, "--dataset", args.dataset, "--latent-dim", str(latent),
                                         "--device", args.device, "--data-root", str(args.data_root)], out)
                model, _ = load_checkpoint(out / "model.pt")
                with torch.no_grad():
                    mu, _ = encode_all(model, x_test)
                points = "  ".join(f"{s:5.1f}s:{v:6.2f}" for s, v in curve)
                print(f"  z={latent:<3d} {name:26s} test -ELBO {curve[-1][1]:6.2f} in {wall:5.1f} s, "
                      f"{active_units(mu)} of {latent} units active | per epoch (s: -ELBO) {points}", flush=True)


def history_cost(args) -> None:
    """Part 6: s/epoch with and without the history, alternated, two runs of two epochs each."""
    print("s/epoch of train.py --quick --epochs 2, with and without recording the history (alternated):")
    for latent in [int(d) for d in args.latent_dims.split(",")]:
        seconds = {"--history": [], "--no-history": []}
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(4):
                flag = ("--history", "--no-history")[k % 2]
                out = Path(tmp) / f"run{k}"
                timed_run(["--quick", "--epochs", "2", "--latent-dim", str(latent), flag, "--device", args.device,
                           "--data-root", str(args.data_root)], out)
                seconds[flag] += logged_epoch_seconds(out)
        med = {f: sorted(v)[len(v) // 2] for f, v in seconds.items()}
        print(f"  z={latent:<3d} with {med['--history']:.2f} s, without {med['--no-history']:.2f} s (medians of "
              f"{len(seconds['--history'])}): the history costs {med['--history'] / med['--no-history'] - 1:+.0%}",
              flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=data.default_root())
    p.add_argument("--dataset", default="mnist", choices=data.DATASETS)
    p.add_argument("--arch", default="mlp", choices=("mlp", "conv"))
    p.add_argument("--latent-dim", type=int, default=2)
    p.add_argument("--hidden", default=",".join(map(str, VAEConfig().hidden)))
    p.add_argument("--batch-sizes", default="256,384,512")
    p.add_argument("--repeats", type=int, default=30, help="best of this many for each product")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-recipes", action="store_true", help="skip part 4 (the train.py runs)")
    p.add_argument("--default-epochs", type=int, default=10, help="epochs of today's default recipe in part 4")
    p.add_argument("--compare-conv", action="store_true", help="part 5 only: conv against MLP, same budget")
    p.add_argument("--latent-dims", default="2,16", help="latent sizes of part 5")
    p.add_argument("--conv-epochs", type=int, default=1, help="the conv run's epochs in part 5")
    p.add_argument("--history-cost", action="store_true", help="part 6 only: s/epoch with and without the history")
    args = p.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    data.ensure(args.dataset, args.data_root)
    if args.compare_conv:
        return compare_conv(args)
    if args.history_cost:
        return history_cost(args)
    x = data.load(args.dataset, True, args.data_root).floats().to(device)
    cfg = VAEConfig(arch=args.arch, latent_dim=args.latent_dim, hidden=[int(h) for h in args.hidden.split(",")])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}; model {cfg}")
    floors = {}
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        floor, _ = floor_epoch(VAE(cfg).to(device), batch, len(x), args.repeats, device, sync)
        floors[batch] = floor
        auto = epoch_seconds(cfg, x, batch, fused=False, sync=sync)
        line = f"batch {batch:4d}: floor {floor:6.2f} s/epoch   autograd {auto:6.2f} s ({floor / auto:4.0%} of floor)"
        if supports(VAE(cfg)):
            fused = epoch_seconds(cfg, x, batch, fused=True, sync=sync)
            line += f"   hand-written step {fused:6.2f} s ({floor / fused:4.0%} of floor)"
        print(line, flush=True)
    if device.type == "cpu":
        batch = min(floors)
        print(f"\nwhere a step goes (batch {batch}, torch.profiler self times, ms per step):")
        for kind, ms in step_breakdown(cfg, x, batch).items():
            print(f"  {kind:62s} {ms:7.2f}")
    if args.skip_recipes:
        return
    floor = floor_epoch(VAE(VAEConfig(hidden=QUICK["hidden"])).to(device), 256, len(x), args.repeats, device, sync)[0]
    print(f"\ntime to a model (2-D MNIST MLP; floor epoch of 784-{'-'.join(map(str, QUICK['hidden']))}-2 at batch 256: "
          f"{floor:.2f} s); wall seconds from the command's start:")
    recipes = [("--quick", ["--quick"]),
               (f"default, --epochs {args.default_epochs}",
                ["--epochs", str(args.default_epochs), "--iw-samples", "0", "--no-pictures"])]
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in recipes:
            wall, curve = timed_run([*extra, "--device", args.device, "--data-root", str(args.data_root)],
                                    Path(tmp) / name.split()[0].strip("-,"))
            points = "  ".join(f"{s:5.1f}s:{v:6.2f}" for s, v in curve)
            print(f"  {name:22s} test -ELBO {curve[-1][1]:6.2f} in {wall:5.1f} s = {wall / floor:4.1f} floor epochs "
                  f"| per epoch (s: -ELBO) {points}", flush=True)
            print("  " + json.dumps({"recipe": name, "wall_s": round(wall, 2), "floor_epoch_s": round(floor, 3),
                                     "curve": [[round(s, 2), v] for s, v in curve]}))


if __name__ == "__main__":
    main()
