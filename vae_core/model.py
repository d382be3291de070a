"""The VAE: an MLP or convolutional encoder/decoder with a Bernoulli likelihood and N(0, I) prior."""
from dataclasses import dataclass, field

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28


@dataclass
class VAEConfig:
    arch: str = "mlp"  # "mlp" (fully connected, as in the seed) or "conv"
    latent_dim: int = 2  # size of z; 2 gives the map and canvas pictures
    hidden: list[int] = field(default_factory=lambda: [512, 512, 256])  # encoder widths; decoder mirrors
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])  # conv arch only

    def __post_init__(self):
        if self.arch not in ("mlp", "conv"):
            raise ValueError(f"arch must be 'mlp' or 'conv', got {self.arch!r}")
        if int(self.latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive, got {self.hidden}")
        if self.arch == "conv" and len(self.conv_channels) != 2:
            raise ValueError("conv arch takes exactly two conv_channels")
        self.latent_dim = int(self.latent_dim)
        self.hidden = [int(h) for h in self.hidden]
        self.conv_channels = [int(c) for c in self.conv_channels]


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


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
