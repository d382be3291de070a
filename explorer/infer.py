"""Decoding with a view's model; torch is imported on first use, never on the way to the first page."""
import numpy as np

from explorer.snapshot import Snapshot


def torch_model(view: Snapshot):
    """The view's torch model (imports torch on first use)."""
    from explorer import models
    return models.model_for(view)


def decode(view: Snapshot, z: np.ndarray) -> np.ndarray:
    """z: [N, D] -> pixel means [N, 28, 28] with the view's model."""
    from explorer import models
    return models.decode(models.model_for(view), z)
