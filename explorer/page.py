"""The page's JavaScript modules: each component's module is nn.js (the network steps and the weights
blob reader, shared) followed by the component's own files. Written here once, for the app and the tests."""
from pathlib import Path

HERE = Path(__file__).parent


def module(*names: str) -> str:
    """The JS module source for component files `names` (e.g. "live.js"), with nn.js before them."""
    return "\n".join((HERE / name).read_text() for name in ("nn.js", *names))
