"""Small messages to code already in the page, in one invisible element: the decoder's point (for
live.js), the map's overlays (map_overlays.js) and the view's link (link.js). The decoder's fragment
sends one such element on each rerun, so moving z from Python sends these few hundred bytes, where a
message per helper re-sent each helper's code too (~10 KB), and the page renders one element, not three.

Format "post v1" (docs/page-protocol.md): b"VAEP" + JSON {v: 1, parts: {name: message}}. Each part
keeps its own format and version, read by its receiver. The element's code goes with every message, so
it is kept short: it leaves each part in window.__vaePosts (for code that mounts later) and hands it
on in a "vae-post" event.

The receivers' own elements are drawn by the page's runs, outside the fragment, with the same
messages as data. An element may mount (its code is imported) after a post that is newer than its
data, or be called again with its old data on a re-render: so the messages that come both ways carry
`seq` (`stamp`), and a receiver takes a message only if it is not older than what it holds.
"""
import json
import threading
import time

import streamlit as st

MAGIC, VERSION = b"VAEP", 1
# the element's code, sent with every message, so written short. It reads the message, refuses one it
# cannot read (console), and for each part: window.__vaePosts[name] = part, then a "vae-post" event.
# One line break at least: Streamlit takes a one-line string for the name of a file
_JS = ("export default function({data}){const t=new TextDecoder().decode(data);let m=null;\n"
       "try{m=t.startsWith('%(magic)s')?JSON.parse(t.slice(4)):null}catch(e){}"
       "if(!m||m.v!==%(version)d||!(m.parts instanceof Object)){"
       "console.error('vae post: cannot read this message (need %(magic)s version %(version)d)');return}"
       "const p=(window.__vaePosts||={});for(const[name,part]of Object.entries(m.parts)){"
       "p[name]=part;window.dispatchEvent(new CustomEvent('vae-post',{detail:{name,part}}))}}"
       ) % {"magic": MAGIC.decode(), "version": VERSION}
_component = st.components.v2.component("vae_post", js=_JS, css=":host { display: none; }")


_last, _lock = 0, threading.Lock()


def stamp() -> int:
    """A message's `seq`: milliseconds of the wall clock, strictly increasing in this server process
    (and, but for a clock set back, across its restarts, which a page open meanwhile outlives)."""
    global _last
    with _lock:
        _last = max(_last + 1, time.time_ns() // 1_000_000)
        return _last


def message(parts: dict[str, dict]) -> bytes:
    return MAGIC + json.dumps({"v": VERSION, "parts": parts}, separators=(",", ":")).encode()


def send(key: str, parts: dict[str, dict]) -> None:
    """Hand these parts to the page's receivers (bytes as data: any other data Streamlit first checks
    for dataframes, importing pandas, ~0.7 s)."""
    _component(key=key, data=message(parts), height=0)
