"""The checkpoint file's container, without torch: a 40-byte footer (MAGIC + the SHA-256 of the
bytes before it) sealing whatever torch wrote, atomic writes, and the checks made before anything
is unpickled. Torch-free so that the app can key its on-disk caches by a file's digest, and list
checkpoints, before it has imported torch.
"""
import hashlib
import os
import tempfile
from pathlib import Path

from vae_core.errors import CheckpointError

MAGIC = b"VAEXSHA2"  # footer marker, followed by the 32-byte digest
FOOTER = len(MAGIC) + 32
MAX_BYTES = 1 << 30  # files over this are refused before any byte is read
_ZIP_END = b"PK\x05\x06"  # a bare torch.save file ends with this 22-byte record (no comment)


def seal(body) -> list:
    """The chunks to write for a sealed file: body, MAGIC, SHA-256(body)."""
    return [body, MAGIC, hashlib.sha256(body).digest()]


def write_atomic(path: Path, chunks) -> None:
    """Write the byte chunks to `path` so that a reader sees the old file or the whole new one."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise CheckpointError(path, f"could not write ({e.strerror or type(e).__name__}); "
                                    "the previous file, if any, is unchanged") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def check_file(path: Path) -> str:
    """Size and digest, before the unpickler sees a byte. Returns "sha256" or "legacy"."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise CheckpointError(path, f"refused: {size / 2**20:,.0f} MB is over the "
                                        f"{MAX_BYTES / 2**20:,.0f} MB limit for a checkpoint")
        if size < FOOTER:
            raise CheckpointError(path, "not a readable checkpoint (corrupt or truncated: too short)")
        with open(path, "rb") as f:
            f.seek(size - FOOTER)
            footer = f.read(FOOTER)
            if footer[:len(MAGIC)] != MAGIC:
                f.seek(size - 22)
                end = f.read(22)
                if end[:4] == _ZIP_END and end[20:22] == b"\0\0":
                    return "legacy"
                raise CheckpointError(path, "not a readable checkpoint (corrupt or truncated: no digest)")
            f.seek(0)
            h = hashlib.sha256()
            remaining = size - FOOTER
            while remaining:
                block = f.read(min(remaining, 1 << 20))
                if not block:
                    raise CheckpointError(path, "not a readable checkpoint (truncated while reading)")
                h.update(block)
                remaining -= len(block)
    except OSError as e:
        raise CheckpointError(path, f"cannot read ({e.strerror or type(e).__name__})") from None
    if h.digest() != footer[len(MAGIC):]:
        raise CheckpointError(path, "corrupt: digest mismatch (the file changed after it was written)")
    return "sha256"


def file_digest(path: Path) -> str:
    """SHA-256 of the whole file, hex: the identity of a checkpoint's contents (cache keys)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
