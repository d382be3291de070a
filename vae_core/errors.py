"""What vae_core refuses with, importable without torch (the app catches these before it has torch)."""
from pathlib import Path


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or written. str() names the file and the problem;
    `problem` is the same without the path (for a viewer who should not see file paths)."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


class DataError(RuntimeError):
    """The data could not be found, built or verified; the message says what to do."""
