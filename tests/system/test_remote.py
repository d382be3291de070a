"""Server decoding's route served by `streamlit run explorer/app.py`, also under a base URL path."""
import asyncio
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from testkit import SHIPPED
from testkit.browser import serve
from testkit.load import decode_request, decoder_header
from testkit.st_client import Session
from vae_core.checkpoint import load_checkpoint


def _route_answers(url) -> dict:
    async def go():
        async with Session(url) as s:
            await s.rerun()
            await s.rerun(s.toggle(next(k for k in s.widgets if k.startswith("live_")), False))
            return s, decoder_header(s)
    s, h = asyncio.run(go())

    origin = "/".join(url.split("/")[:3])

    def get(query: str):
        try:
            with urllib.request.urlopen(f"{origin}{h['remote']['url']}?{query}", timeout=30) as r:
                return r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read()
    m = urllib.request.quote(h["model"])
    return {"header": h, "pixels": decode_request(s, [0.5, -1.0]) and get(f"m={m}&z=0.5,-1"),
            "unknown": get("m=nope&z=0,0"), "text": get(f"m={m}&z=a,b"), "short": get(f"m={m}&z=1")}


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped checkpoint")
@pytest.mark.parametrize("base", ["", "vae/explorer"])
def test_streamlit_run_serves_the_route_beside_the_app(base):
    """`streamlit run explorer/app.py` finds the app's st.App and serves the route, under
    server.baseUrlPath when one is set: torch's pixels for a good request, one line for a bad one."""
    flags = ("--server.baseUrlPath", base) if base else ()
    with serve(flags=flags) as url:
        got = _route_answers(url + ("/" + base if base else ""))
    assert got["header"]["remote"]["url"] == ("/" + base if base else "") + "/api/vae/decode"
    status, kind, body = got["pixels"]
    assert (status, kind, len(body)) == (200, "application/octet-stream", 784)
    model, _ = load_checkpoint(SHIPPED)
    with torch.inference_mode():
        want = torch.sigmoid(model.decode(torch.tensor([[0.5, -1.0]]))).numpy().ravel()
    assert np.abs(np.frombuffer(body, np.uint8) - 255 * want).max() <= 1
    for name, code in (("unknown", 404), ("text", 400), ("short", 400)):
        status, kind, body = got[name]
        assert status == code and kind.startswith("text/plain") and b"\n" not in body.strip(), (name, body)
