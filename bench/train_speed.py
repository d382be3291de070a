"""Training speed, side by side: our in-memory loop vs a conventional torchvision/DataLoader loop.

Prints s/epoch of both (same model, batch 128) and the time each needs to reach test -ELBO <= 152
nats with a 2-D latent. Usage: python bench/train_speed.py [--skip-conventional-152]
"""
import argparse
import time
from pathlib import Path

import torch

from vae_core import data
from vae_core.losses import neg_elbo
from vae_core.model import VAE, VAEConfig
from vae_core.training import (
    TrainConfig,
    batches,
    evaluate,
    lr_at,
    make_optimizer,
    train_one_epoch,
)

TARGET = 152.0


class Reached(Exception):
    """The target was reached mid-epoch."""


def conventional_loader(root: Path, batch_size: int):
    """What most tutorials do: PIL images through ToTensor per item, a shuffling DataLoader."""
    import torchvision
    from torchvision import transforms
    ds = torchvision.datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True)


def conventional_epoch(model, loader, opt) -> None:
    model.train()
    for xb, _ in loader:
        loss, _, _ = neg_elbo(model, xb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def our_epoch_seconds(x_train: torch.Tensor, hidden: list[int], batch_size: int) -> float:
    """One epoch of our loop: in-memory batches, fused Adam."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=hidden))
    t = time.perf_counter()
    train_one_epoch(model, batches(x_train, batch_size, torch.Generator().manual_seed(0)),
                    make_optimizer(model, 1e-3))
    return time.perf_counter() - t


def conventional_epoch_seconds(root: Path, hidden: list[int]) -> float:
    """One epoch of the conventional loop: DataLoader + ToTensor, batch 128, plain Adam."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=hidden))
    loader = conventional_loader(root, 128)
    t = time.perf_counter()
    conventional_epoch(model, loader, torch.optim.Adam(model.parameters(), 1e-3))
    return time.perf_counter() - t


def time_to_target(root: Path, fast: bool, limit_s: float = 240.0) -> tuple[float | None, float, int]:
    """Wall seconds (training + evaluations, data already in memory) until test -ELBO <= TARGET.

    fast: our recipe (784-512-256-2, batch 64, Adam 2e-3 with cosine decay over 2 epochs, in-memory
    batches, test -ELBO every quarter epoch). Otherwise the conventional loop (784-400-2, batch 128,
    Adam 1e-3, DataLoader + ToTensor, test -ELBO every epoch). Returns (seconds or None, best, checks).
    """
    x_test = data.load("mnist", False, root).floats()
    torch.manual_seed(0)
    best, checks = float("inf"), 0
    if fast:
        x_train = data.load("mnist", True, root).floats()
        model = VAE(VAEConfig(hidden=[512, 256]))
        opt = make_optimizer(model, 2e-3)
        steps_per_epoch = -(-60000 // 64)
        total, step, g = 2 * steps_per_epoch, 0, torch.Generator().manual_seed(0)

        def schedule():
            nonlocal step
            step += 1
            return lr_at(step - 1, total, 2e-3)

        def check(_loss):
            nonlocal best, checks
            if step % (steps_per_epoch // 4) == 0:
                best, checks = min(best, evaluate(model, x_test)["neg_elbo"]), checks + 1
                model.train()
                if best <= TARGET:
                    raise Reached

        t0 = time.perf_counter()
        try:
            for _ in range(2):
                train_one_epoch(model, batches(x_train, 64, g), opt, schedule=schedule, on_step=check)
        except Reached:
            return time.perf_counter() - t0, best, checks
        return None, best, checks
    model = VAE(VAEConfig(hidden=[400]))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loader = conventional_loader(root, 128)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        conventional_epoch(model, loader, opt)
        best, checks = min(best, evaluate(model, x_test)["neg_elbo"]), checks + 1
        if best <= TARGET:
            return time.perf_counter() - t0, best, checks
    return None, best, checks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=data.default_root())
    p.add_argument("--skip-conventional-152", action="store_true", help="skip the slow conventional run to 152")
    args = p.parse_args()
    data.ensure("mnist", args.data_root)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    x_train = data.load("mnist", True, args.data_root).floats()
    default = TrainConfig().batch_size
    for hidden in ([400], VAEConfig().hidden):
        name = f"784-{'-'.join(map(str, hidden))}-2"
        theirs = conventional_epoch_seconds(args.data_root, hidden)
        for batch_size in sorted({128, default}):
            ours = our_epoch_seconds(x_train, hidden, batch_size)
            print(f"s/epoch, {name}: ours (batch {batch_size}) {ours:6.2f}   conventional (batch 128) "
                  f"{theirs:6.2f}   ratio {theirs / ours:4.1f}x")
    runs = [("ours (in-memory, 784-512-256-2, batch 64, cosine)", True)]
    if not args.skip_conventional_152:
        runs.append(("conventional (DataLoader, 784-400-2, batch 128)", False))
    for name, fast in runs:
        seconds, best, checks = time_to_target(args.data_root, fast)
        shown = f"{seconds:6.1f} s" if seconds is not None else "  not reached"
        print(f"time to test -ELBO <= {TARGET:.0f}: {name}: {shown} (best {best:.2f} after {checks} evaluations)")


if __name__ == "__main__":
    main()
