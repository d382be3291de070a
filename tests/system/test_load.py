"""The server under several sessions at once, spoken to in Streamlit's own protocol (testkit/st_client.py)."""
import asyncio
import math

import pytest

from testkit import ROOT
from testkit.browser import listening_addresses, serve, serve_process
from testkit.load import crowd, make_home
from testkit.st_client import Session

CHECKPOINTS = ["checkpoints/mnist-mlp-z2.pt", "checkpoints/small-z5.pt"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_home(tmp_path_factory.mktemp("home"))


@pytest.mark.parametrize("where", ["repo", "elsewhere"])
def test_server_listens_on_loopback_only_by_default(where, tmp_path):
    """The address comes from explorer/.streamlit/config.toml, the app's own, read wherever
    `streamlit run explorer/app.py` is started from."""
    with serve_process(address=None, cwd=ROOT if where == "repo" else tmp_path) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"127.0.0.1"}


def test_four_sessions_twenty_actions_each_without_an_error(home):
    """Slider releases, live commits, prior samples, map clicks, tab switches with canvas and
    interpolation changes, checkpoint switches: every action gets its answer, nothing fails."""
    with serve(env={"VAE_EXPLORER_HOME": str(home)}) as url:
        results = asyncio.run(crowd(url, 4, 20, (0.02, 0.1), CHECKPOINTS))
    assert results.errors == []
    assert results.actions >= 4 * 21
    done = results.latencies
    for action in ("release -> digit", "live commit", "click -> reconstruction", "tab switch", "canvas change",
                   "interpolation change", "checkpoint switch", "prior sample"):
        assert action in done, (action, sorted(done))


async def _python_moves_z(url) -> list:
    async with Session(url) as s:
        await s.rerun()
        button = s.widget("Sample from the prior")
        runs = [await s.rerun(s.button("Sample from the prior"), fragment_id=button.fragment_id) for _ in range(3)]
    return [r.wire for r in runs]


def test_moving_z_from_python_sends_the_point_not_the_weights(home):
    with serve(env={"VAE_EXPLORER_HOME": str(home)}) as url:
        wires = asyncio.run(_python_moves_z(url))
    for wire in wires:
        sent = {ident.rsplit("-", 1)[-1]: (size, ref) for ident, size, ref in wire}
        assert sent["live"][1] and sent["live"][0] < 1000  # the 3 MB weights: a reference to what the page has
        # the new point, with the map's overlays and the link: one small element, its code included
        assert not sent["post"][1] and sent["post"][0] < 1000


async def _hostile_states(url) -> list:
    async with Session(url) as s:
        await s.rerun()
        live = s.widget("live")
        errors = []
        for z in ([math.nan, 1.0], [1e308 * 10, 0.0], [1.0, 2.0, 3.0, 4.0, 5.0], "text", [None, 1]):
            run = await s.rerun(s.component_state("live", {"z": z}), fragment_id=live.fragment_id)
            errors += run.exceptions
        captions = []
        for z in (None, [99.0, -99.0]):  # then a point far outside the sliders' ranges
            if z is not None:
                errors += (await s.rerun(s.component_state("live", {"z": z}), fragment_id=live.fragment_id)).exceptions
            run = await s.rerun()
            errors += run.exceptions
            captions.append(next(el.markdown.body for _, el in run.elements
                                 if el.WhichOneof("type") == "markdown" and el.markdown.body.startswith("z = (")))
        return errors, captions


def test_hostile_widget_values_are_dropped_without_an_error(home):
    """NaN, inf, the wrong length or not numbers at all, sent as the live decoder's point."""
    with serve(env={"VAE_EXPLORER_HOME": str(home)}) as url:
        errors, captions = asyncio.run(_hostile_states(url))
    assert errors == []
    assert captions[0] == "z = (+0.00, +0.00)"  # unchanged: every bad point was dropped
    a, b = (float(v) for v in captions[1][5:-1].split(", "))
    assert 3 <= a < 99 and b == -a  # clipped to the (symmetric) slider range
