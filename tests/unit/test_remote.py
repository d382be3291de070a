"""Server decoding's route (backend/remote.py): what it answers and what it refuses."""
import asyncio

import numpy as np
import pytest

from explorer.backend import remote, snapshot


@pytest.fixture
def offered(tiny_model):
    """A 3-D view offered to the route, as a session opening it does."""
    mu = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    view = snapshot.Snapshot(name="runs/t.pt", digest="ab" * 32, dataset="mnist",
                             config=tiny_model.cfg.__dict__ | {"latent_dim": 3}, metrics={}, integrity="sha256",
                             mu=mu, logvar=mu * 0, labels=np.zeros(50, int))
    remote.offer(view)
    yield view
    remote._offered.pop(view.ident, None)


@pytest.mark.parametrize("query, status, says", [
    ({"m": "runs/other.pt@00", "z": "0,0,0"}, 404, "not open on the server"),
    ({"z": "0,0,0"}, 404, "not open on the server"),
    ({"m": "OFFERED", "z": "0,0"}, 400, "expected 3 finite numbers, got 2"),
    ({"m": "OFFERED", "z": "0,nan,0"}, 400, "expected 3 finite numbers, got a NaN or an infinity"),
    ({"m": "OFFERED", "z": "0,inf,0"}, 400, "expected 3 finite numbers, got a NaN or an infinity"),
    ({"m": "OFFERED", "z": "1,two,3"}, 400, "expected 3 comma-separated numbers"),
    ({"m": "OFFERED"}, 400, "expected 3 comma-separated numbers"),
    ({"m": "OFFERED", "z": "1," * 20_000}, 400, "too long"),
])
def test_the_route_refuses_with_one_line(offered, query, status, says):
    with pytest.raises(remote.Refused) as e:
        remote.parse({k: offered.ident if v == "OFFERED" else v for k, v in query.items()})
    assert e.value.status == status and says in str(e.value) and "\n" not in str(e.value)


class _Request:
    def __init__(self, **query):
        self.query_params = query


def test_a_checkpoint_gone_since_it_was_opened_is_said_so_and_other_failures_in_one_line(offered, monkeypatch):
    """The offered view has no weights blob (a decoder the page cannot run): torch loads it from its
    file, which is not there (deleted since the page opened it): 410 and what to do."""
    answer = asyncio.run(remote.handle(_Request(m=offered.ident, z="0,0,0")))
    assert answer.status_code == 410 and answer.body.decode() == remote.GONE
    for failure in (ZeroDivisionError, ValueError):  # any other failure, a ValueError in the decode too
        def broken(view, z, failure=failure):
            raise failure("a bug in the decode")
        monkeypatch.setattr(remote, "pixels", broken)
        answer = asyncio.run(remote.handle(_Request(m=offered.ident, z="0,0,0")))
        assert answer.status_code == 500 and answer.body.decode() == "decoding failed on the server (see its log)"


def test_z_is_clipped_into_the_models_ranges(offered):
    _, z = remote.parse({"m": offered.ident, "z": "1e30,-1e30,0.5"})
    lo, hi = np.asarray(snapshot_ranges(offered)).T
    assert z[0] == pytest.approx(hi[0]) and z[1] == pytest.approx(lo[1]) and z[2] == pytest.approx(0.5)


def snapshot_ranges(view):
    from explorer.backend.projection import slider_ranges
    return slider_ranges(view.mu)


def test_only_the_last_models_offered_are_kept(offered):
    import dataclasses
    views = [dataclasses.replace(offered, digest=f"{k:016x}" + "0" * 48) for k in range(remote._KEEP + 3)]
    for v in views:
        remote.offer(v)
    assert list(remote._offered)[-remote._KEEP:] == [v.ident for v in views[-remote._KEEP:]]
    assert len(remote._offered) == remote._KEEP and views[0].ident not in remote._offered
    for v in views:
        remote._offered.pop(v.ident, None)



def test_decoding_extreme_logits_warns_of_nothing(tiny_model):
    """A z far out gives logits past float32's exp range; the page-side decode clips, no warning."""
    import warnings

    from explorer.backend import infer, weights
    d = tiny_model.cfg.latent_dim
    mu = np.random.default_rng(0).normal(size=(50, d)).astype(np.float32)
    blob = weights.pack_for(tiny_model, mu, np.zeros(50), ["#000"] * 10, ident="runs/x.pt@ab", pad_dims=(0, 1),
                            fold_after=8)
    view = snapshot.Snapshot(name="runs/x.pt", digest="cd" * 32, dataset="mnist", config=tiny_model.cfg.__dict__,
                             metrics={}, integrity="sha256", mu=mu, logvar=mu * 0, labels=np.zeros(50, int), blob=blob)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = infer.decode(view, np.full((2, d), 1e6, np.float32) * [[1], [-1]])
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
