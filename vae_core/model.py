"""The VAE: an MLP or convolutional encoder/decoder with a Bernoulli likelihood and N(0, I) prior."""
from dataclasses import dataclass, field

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28
# Bounds on a config, checked before anything is allocated: a config is data from a file
# someone else may have written, and `hidden: [10**9]` would otherwise ask for terabytes.
MAX_LATENT_DIM = 1024
MAX_WIDTH = 16384  # any hidden layer
MAX_LAYERS = 8  # hidden layers per side
MAX_CHANNELS = 512  # conv channels
MAX_PARAMETERS = 100_000_000  # 400 MB of float32 weights


@dataclass
class VAEConfig:
    arch: str = "mlp"  # "mlp" (fully connected, as in the seed) or "conv"
    latent_dim: int = 2  # size of z; 2 gives the map and canvas pictures
    hidden: list[int] = field(default_factory=lambda: [512, 512, 256])  # encoder widths; decoder mirrors
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])  # conv arch only

    def __post_init__(self):
        if self.arch not in ("mlp", "conv"):
            raise ValueError(f"arch must be 'mlp' or 'conv', got {self.arch!r}")
        self.latent_dim = _bounded_int("latent_dim", self.latent_dim, MAX_LATENT_DIM)
        if not isinstance(self.hidden, (list, tuple)) or not 1 <= len(self.hidden) <= MAX_LAYERS:
            raise ValueError(f"hidden must list 1 to {MAX_LAYERS} widths, got {self.hidden!r:.80}")
        self.hidden = [_bounded_int("hidden", h, MAX_WIDTH) for h in self.hidden]
        if not isinstance(self.conv_channels, (list, tuple)) or len(self.conv_channels) != 2:
            raise ValueError(f"conv_channels must list two channel counts, got {self.conv_channels!r:.80}")
        self.conv_channels = [_bounded_int("conv_channels", c, MAX_CHANNELS) for c in self.conv_channels]
        if (n := self.parameter_count()) > MAX_PARAMETERS:
            raise ValueError(f"the config asks for {n:,} parameters, over the limit of {MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        """Weights + biases of VAE(self), worked out without building it."""
        def linear(sizes):
            return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        z, h = self.latent_dim, self.hidden
        if self.arch == "mlp":
            return linear([N_PIXELS, *h, 2 * z]) + linear([z, *reversed(h), N_PIXELS])
        c1, c2 = self.conv_channels
        convs = (16 * c1 + c1) + (16 * c1 * c2 + c2) + (16 * c2 * c1 + c1) + (16 * c1 + 1)  # 4x4 kernels
        return convs + linear([c2 * 49, *h, 2 * z]) + linear([z, *reversed(h), c2 * 49])


def _bounded_int(name: str, value, limit: int) -> int:
    """value as an int in [1, limit], or a ValueError naming the field and the limit."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r:.40}")
    if not 1 <= value <= limit:
        raise ValueError(f"{name} must be between 1 and {limit:,}, got {value:,}")
    return int(value)


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@torch.no_grad()
def he_init(module: nn.Module) -> None:
    """He et al. (2015) initialisation (normal, fan-in, gain for ReLU; zero biases) for every Linear and
    conv layer. torch's default (uniform, variance 1 / (3 fan_in)) shrinks the signal about sixfold
    in power per ReLU layer: through the conv variant's twelve layers that left z's effect on the
    logits and the encoder's gradient so weak that the KL term shut the latent off before the
    decoder learned to use it (0 of 2 units active, KL 0.00 nats; bench/README.md, "The conv VAE").
    The MLP keeps torch's default: it trains better with it (same figures)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(m.bias)


class VAE(nn.Module):
    """Kingma & Welling (2014) VAE. Images in, Bernoulli logits out."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        z, h = cfg.latent_dim, cfg.hidden
        if cfg.arch == "mlp":
            self.encoder = nn.Sequential(nn.Flatten(), _mlp([N_PIXELS, *h, 2 * z]))
            self.decoder = _mlp([z, *reversed(h), N_PIXELS])
        else:
            c1, c2 = cfg.conv_channels
            self.encoder = nn.Sequential(
                nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(),  # 28 -> 14
                nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),  # 14 -> 7
                nn.Flatten(), _mlp([c2 * 49, *h, 2 * z]),
            )
            self.decoder = nn.Sequential(
                _mlp([z, *reversed(h), c2 * 49]), nn.ReLU(),
                nn.Unflatten(1, (c2, 7, 7)),
                nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),  # 7 -> 14
                nn.ConvTranspose2d(c1, 1, 4, 2, 1),  # 14 -> 28
                nn.Flatten(),
            )
            he_init(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, 1, 28, 28] in [0, 1] -> (mu, logvar), each [B, latent_dim]."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: [B, latent_dim] -> Bernoulli logits [B, 784]."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One reparameterised pass: returns (logits [B, 784], mu, logvar)."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from the prior, decoded: returns pixel means [n, 1, 28, 28] in [0, 1]."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.cfg.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self.decode(z)).view(n, *IMAGE_SHAPE)
