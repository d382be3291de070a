"""Helpers shared by tests/ and bench/: a protocol-level Streamlit client, browser helpers, synthetic inputs."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: checkpoints/, data/, explorer/app.py
APP = str(ROOT / "explorer" / "app.py")  # what `streamlit run` and AppTest run
SHIPPED = ROOT / "checkpoints" / "mnist-mlp-z2.pt"  # the model the app opens first (picker.DEFAULT_CHECKPOINT)
