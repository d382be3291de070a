"""The page's JavaScript modules. A component's module is a few files joined, shared parts first:
dom.js (making elements, refusing a message visibly) for every element that draws in its panel,
nn.js (the network steps and the weights blob reader) for every element that runs a net, borrowed.js
(what the page takes from Streamlit and Plotly without a public API, checked) for every element that
touches the map, posts.js (taking the parts post.py sends) for every element that receives them. Each
component's Python module keeps its module as `JS`, which the tests load as the app does."""
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "frontend"
DOM = "dom.js"
NETS = (DOM, "nn.js")
BORROWED = "borrowed.js"
POSTS = "posts.js"


def module(*names: str | tuple[str, ...]) -> str:
    """The JS module source made of these files of explorer/frontend/ (or groups of them), in order."""
    files = [n for name in names for n in ((name,) if isinstance(name, str) else name)]
    return "\n".join((HERE / name).read_text() for name in files)
