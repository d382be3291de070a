"""The page's half of "a view is a link" (explorer/link.js): it puts the query string Python sends into
the address bar by replacing the history entry, ignores a re-render of an older element, and refuses
a message it cannot read."""
import pytest

from explorer import link
from explorer import page as page_js
from testkit.browser import CHROMIUM, chromium

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)")

ORIGIN = "http://vae.test"  # answered by page.route below: nothing leaves the browser

# JS: import link.js once; window.__link(key, bytes) calls it as Streamlit would for element `key`
LOAD_JS = """async (source) => {
  window.__errors = [];
  const log = console.error;
  console.error = (...a) => { window.__errors.push(a.join(' ')); log(...a); };
  const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
  const mount = (await import(url)).default;
  window.__link = (key, data) => mount({key, data: new Uint8Array(data), parentElement: document.body,
                                        setStateValue: () => {}});
}"""


@pytest.fixture
def page():
    with chromium() as p:
        p.route(ORIGIN + "/**", lambda route: route.fulfill(body="<html><body></body></html>", content_type="text/html"))
        p.goto(ORIGIN + "/?ckpt=old.pt")
        p.evaluate(LOAD_JS, page_js.module("link.js"))
        yield p


def send(page, key: str, query: dict) -> None:
    page.evaluate("([k, d]) => window.__link(k, d)", [key, list(link.message(query))])


def test_the_address_bar_takes_the_view_without_a_new_history_entry(page):
    entries = page.evaluate("history.length")
    send(page, "link", {"ckpt": "checkpoints/a.pt", "z": "1.5,-0.25", "sel": "7"})
    assert page.url == ORIGIN + "/?ckpt=checkpoints/a.pt&z=1.5,-0.25&sel=7"
    send(page, "link_decoder", {"ckpt": "checkpoints/a.pt", "z": "0,2"})
    assert page.url == ORIGIN + "/?ckpt=checkpoints/a.pt&z=0,2"
    assert page.evaluate("history.length") == entries  # Back leaves the app; it does not undo each move
    assert page.evaluate("window.__errors") == []


def test_an_older_element_drawn_again_does_not_take_the_link_back(page):
    send(page, "link", {"z": "0,0"})
    send(page, "link_decoder", {"z": "1,1"})  # the decoder's fragment reran alone
    send(page, "link", {"z": "0,0"})  # Streamlit re-renders the page's element with the data it had
    assert page.url == ORIGIN + "/?z=1,1"
    send(page, "link", {"z": "2,2"})  # a new message from it is news
    assert page.url == ORIGIN + "/?z=2,2"


@pytest.mark.parametrize("data", [b"VAEL" + b'{"v": 2, "query": "z=1"}', b"VAEL{not json", b"XXXX" + b'{"v": 1, "query": "z=1"}',
                                  b"VAEL" + b'{"v": 1, "query": 5}'])
def test_a_message_it_cannot_read_is_refused_and_the_address_bar_kept(page, data):
    page.evaluate("([k, d]) => window.__link(k, d)", ["link", list(data)])
    assert page.url == ORIGIN + "/?ckpt=old.pt"
    assert page.evaluate("window.__errors") == [
        "vae link: cannot read this message (need VAEL version 1); the address bar is left as it is"]
