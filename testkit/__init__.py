"""Helpers shared by tests/ and bench/: a protocol-level Streamlit client, browser helpers, synthetic inputs."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: checkpoints/, data/, explorer/app.py
APP = str(ROOT / "explorer" / "app.py")  # what `streamlit run` and AppTest run
SHIPPED = ROOT / "checkpoints" / "mnist-mlp-z2.pt"  # the model the app opens first (picker.DEFAULT_CHECKPOINT)


def logged_epoch_seconds(out: Path) -> list[float]:
    """The seconds of each epoch a train.py run has written to OUT/metrics.jsonl so far ([] before the first)."""
    try:
        return [json.loads(x)["seconds"] for x in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    except OSError:
        return []
