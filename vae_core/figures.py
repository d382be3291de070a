"""Picture data computed with torch alone: latent meshes, decoded canvases, encodings."""
import torch

from vae_core.model import VAE
from vae_core.tiles import tile

SPACINGS = ("uniform", "gaussian")


def latent_mesh(n: int, extent: float = 3.0, spacing: str = "uniform") -> torch.Tensor:
    """An n x n mesh in 2-D latent space, row-major from the top-left: returns [n*n, 2] as (z0, z1).

    uniform: evenly over [-extent, extent]; gaussian: at the N(0,1) quantiles (i + 0.5) / n,
    as in Kingma & Welling (2014), fig. 4 (extent is then unused).
    """
    if n < 1:
        raise ValueError(f"mesh size must be >= 1, got {n}")
    if spacing == "uniform":
        axis = torch.linspace(-extent, extent, n) if n > 1 else torch.zeros(1)
    elif spacing == "gaussian":
        axis = torch.distributions.Normal(0.0, 1.0).icdf((torch.arange(n) + 0.5) / n)
    else:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    z1, z0 = torch.meshgrid(axis.flip(0), axis, indexing="ij")  # top row = largest z1
    return torch.stack([z0.reshape(-1), z1.reshape(-1)], dim=1)


@torch.inference_mode()
def decode_points(model: VAE, z2: torch.Tensor, dims: tuple[int, int] = (0, 1),
                  base: torch.Tensor | None = None) -> torch.Tensor:
    """Decode 2-D points placed in latent dims `dims` of `base` ([D], zeros by default).

    z2: [N, 2] -> pixel means [N, 1, 28, 28].
    """
    d = model.cfg.latent_dim
    z = (base if base is not None else torch.zeros(d)).repeat(len(z2), 1)
    z[:, dims[0]] = z2[:, 0]
    if d > 1:
        z[:, dims[1]] = z2[:, 1]
    return torch.sigmoid(model.decode(z)).view(-1, 1, 28, 28)


def canvas(model: VAE, n: int = 20, extent: float = 3.0, spacing: str = "uniform",
           dims: tuple[int, int] = (0, 1), base: torch.Tensor | None = None) -> torch.Tensor:
    """The seed's canvas: decodes on an n x n latent mesh tiled into one image [1, 28n, 28n]."""
    images = decode_points(model, latent_mesh(n, extent, spacing), dims, base)
    return torch.from_numpy(tile(images.numpy(), nrow=n))


@torch.inference_mode()
def encode_all(model: VAE, x: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior parameters for every image. x: [N, 1, 28, 28] -> (mu, logvar), each [N, D]."""
    model.eval()
    mus, logvars = [], []
    for start in range(0, len(x), batch_size):
        mu, logvar = model.encode(x[start:start + batch_size])
        mus.append(mu)
        logvars.append(logvar)
    return torch.cat(mus), torch.cat(logvars)

