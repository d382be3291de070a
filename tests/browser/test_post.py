"""The decoder fragment's small messages (panels/decoder.py, post.js, posts.js) and their receivers that
also have an element of their own, the link (link.js) and the map's overlays (map_overlays.js):
each takes the newest message whichever way it came and in whatever order (an element mounts after a
newer post, or is called again with its old data), and a message it cannot read is refused."""
import json

import pytest

from explorer import link
from explorer.panels import decoder, latent_map
from testkit.browser import chromium

ORIGIN = "http://vae.test"  # answered by page.route below: nothing leaves the browser

# JS: import post's and link's modules; window.__post(bytes) and window.__link(bytes or null, same?) call
# them as Streamlit calls an element (the link's last data object again, when same is true)
LOAD_JS = """async ([postSource, linkSource]) => {
  window.__errors = [];
  const log = console.error;
  console.error = (...a) => { window.__errors.push(a.join(' ')); log(...a); };
  const load = async (source) =>
    (await import(URL.createObjectURL(new Blob([source], {type: 'text/javascript'})))).default;
  const postMount = await load(postSource), linkMount = await load(linkSource);
  const call = (mount, data) => mount({data, key: 'k', parentElement: document.body, setStateValue: () => {}});
  window.__post = (bytes) => call(postMount, new Uint8Array(bytes));
  let last = null, cleanup = null;
  window.__link = (bytes, same) => {
    if (cleanup) cleanup();
    last = same ? last : new Uint8Array(bytes);
    cleanup = call(linkMount, last);
  };
}"""


@pytest.fixture
def page():
    with chromium() as p:
        p.route(ORIGIN + "/**", lambda route: route.fulfill(body="<html><body></body></html>",
                                                            content_type="text/html"))
        p.goto(ORIGIN + "/?ckpt=old.pt")
        p.evaluate(LOAD_JS, [decoder.POST_JS, link.JS])
        yield p


def link_data(query: str, seq: int = 0) -> list[int]:
    return list(json.dumps({"v": link.VERSION, "seq": seq, "query": query}).encode())


def send_post(page, parts: dict) -> None:
    page.evaluate("(d) => window.__post(d)", list(decoder.post_message(parts)))


def test_the_address_bar_takes_the_view_without_a_new_history_entry(page):
    entries = page.evaluate("history.length")
    page.evaluate("(d) => window.__link(d)", link_data("ckpt=checkpoints/a.pt&z=1.5,-0.25&sel=7"))
    assert page.url == ORIGIN + "/?ckpt=checkpoints/a.pt&z=1.5,-0.25&sel=7"
    send_post(page, {"link": {"v": 1, "query": "ckpt=checkpoints/a.pt&z=0,2"}})  # z moved: the fragment's post
    assert page.url == ORIGIN + "/?ckpt=checkpoints/a.pt&z=0,2"
    assert page.evaluate("history.length") == entries  # Back leaves the app; it does not undo each move
    assert page.evaluate("window.__errors") == []


def test_an_older_link_does_not_take_the_address_bar_back(page):
    page.evaluate("(d) => window.__link(d)", link_data("z=0,0", seq=10))
    send_post(page, {"link": {"v": 1, "seq": 12, "query": "z=1,1"}})  # the fragment reran alone: z moved
    page.evaluate("() => window.__link(null, true)")  # a re-render of the link's element, its old data
    assert page.url == ORIGIN + "/?z=1,1"
    page.evaluate("(d) => window.__link(d)", link_data("z=2,2", seq=13))  # the page's next run: news
    assert page.url == ORIGIN + "/?z=2,2"
    send_post(page, {"link": {"v": 1, "seq": 15, "query": "z=3,3"}})
    page.evaluate("(d) => window.__link(d)", link_data("z=2,5", seq=14))  # its element mounting late
    assert page.url == ORIGIN + "/?z=3,3"


def test_a_post_is_kept_for_a_receiver_that_mounts_later(page):
    send_post(page, {"point": {"id": "m", "v": 3, "z": [0.5]}, "link": {"v": 1, "seq": 5, "query": "z=0.5"}})
    assert page.url == ORIGIN + "/?ckpt=old.pt"  # no receiver yet
    page.evaluate("() => window.__link([])")  # the link's element mounts, with no data of its own
    assert page.url == ORIGIN + "/?z=0.5"
    assert len(decoder.post_message({"point": {"id": "x" * 40, "v": 9, "z": [1.234] * 2}})) + len(decoder.POST_JS) < 1000


@pytest.mark.parametrize("data", [b'{"v": 2, "query": "z=1"}', b"{not json", b'{"v": 1, "query": 5}'])
def test_a_link_message_it_cannot_read_is_refused_and_the_address_bar_kept(page, data):
    page.evaluate("(d) => window.__link(d)", list(data))
    send_post(page, {"link": json.loads(data) if data.startswith(b'{"') else None})
    assert page.url == ORIGIN + "/?ckpt=old.pt"
    assert page.evaluate("window.__errors") == [
        "vae link: cannot read this message (need version 1); the address bar is left as it is"] * 2


@pytest.mark.parametrize("data", [b'VAEP{"v": 2, "parts": {}}', b"VAEP{not json", b'XXXX{"v": 1, "parts": {}}',
                                  b'VAEP{"v": 1, "parts": 7}'])
def test_a_post_it_cannot_read_is_refused_once(page, data):
    page.evaluate("() => window.__link([])")  # a receiver of posts
    page.evaluate("(d) => window.__post(d)", list(data))
    page.evaluate("() => window.__link([])")  # mounting again reads the last post again: not said twice
    assert page.evaluate("window.__errors") == ["vae post: cannot read this message (need VAEP version 1)"]
    assert page.url == ORIGIN + "/?ckpt=old.pt"


# JS: map_overlays.js beside a fake keyed chart whose Plotly.relayout keeps the shapes it is given
OVERLAYS_JS = """async ([postSource, source, data, postFirst]) => {
  const holder = document.createElement('div');
  holder.className = 'st-key-map';
  const gd = document.createElement('div');
  gd.className = 'js-plotly-plot';
  Object.assign(gd, {_fullLayout: {}, _fullData: [], layout: {}, on: () => {}});
  window.Plotly = { relayout: (g, update) => { g.layout.shapes = update.shapes; } };
  holder.appendChild(gd);
  document.body.appendChild(holder);
  const load = async (s) => (await import(URL.createObjectURL(new Blob([s], {type: 'text/javascript'})))).default;
  const post = await load(postSource), overlays = await load(source);
  const call = (mount, bytes) =>
    mount({data: new Uint8Array(bytes), parentElement: document.body, setStateValue: () => {}});
  for (const [which, bytes] of postFirst) call(which === 'post' ? post : overlays, bytes);
  return gd.layout.shapes.map((s) => [s.type, s.xanchor, s.yanchor]);
}"""


def overlays(seq: int, **named) -> dict:
    return {"v": 1, "seq": seq, "map_key": "map", "overlays": {k: {"x": [x], "y": [y]} for k, (x, y) in named.items()}}


@pytest.mark.parametrize("order", [("element", "post"), ("post", "element"), ("element", "post", "element")])
def test_the_maps_overlays_take_the_newest_decoder_point_and_keep_the_rest(order):
    # post then element: the element mounts after a newer post; element again: a re-render, old data
    calls = {"element": list(json.dumps(overlays(10, decoder=(0.5, 0.5), selected=(1, 2))).encode()),
             "post": list(decoder.post_message({"overlays": overlays(12, decoder=(-1.5, 0.25))}))}
    with chromium() as p:
        p.goto("about:blank")
        shapes = p.evaluate(OVERLAYS_JS, [decoder.POST_JS, latent_map.OVERLAYS_JS,
                                          None, [[which, calls[which]] for which in order]])
    assert ["circle", 1, 2] in shapes  # the selected digit's ring, from the element
    assert ["path", -1.5, 0.25] in shapes and ["path", 0.5, 0.5] not in shapes  # the posted point, newer


def test_an_element_newer_than_the_last_post_is_not_overridden_by_it():
    # a run of the whole page: the map's element (seq 20) mounts while the last post (seq 12) is older
    calls = [["post", list(decoder.post_message({"overlays": overlays(12, decoder=(-1.5, 0.25))}))],
             ["element", list(json.dumps(overlays(20, decoder=(0.5, 0.5), selected=(1, 2))).encode())]]
    with chromium() as p:
        p.goto("about:blank")
        shapes = p.evaluate(OVERLAYS_JS, [decoder.POST_JS, latent_map.OVERLAYS_JS, None, calls])
    assert ["path", 0.5, 0.5] in shapes and ["path", -1.5, 0.25] not in shapes
