"""A Streamlit session without a browser: one websocket speaking Streamlit's own protobuf messages.

It sends what the page would send when a person moves a widget (a BackMsg `rerun_script` with
the widget's new value, and the fragment's id when the widget lives in one), and reads the
ForwardMsgs back: the elements drawn, exceptions, the end of the run. It keeps what a browser
keeps (cached messages, the latest element in each place), so that many sessions load the
server the way that many browsers would, without the browsers' own CPU cost.
"""
import asyncio
import json
import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

# ForwardMsg.script_finished values that end a run well
FINISHED_OK = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}


class ProtocolError(RuntimeError):
    """The server answered in a way no browser would accept (a closed socket, a compile error...)."""


@dataclass
class Widget:
    id: str  # the element id the server gave it
    kind: str  # the element type: "slider", "button", "plotly_chart", "bidi_component", ...
    label: str
    fragment_id: str  # "" when not in a fragment


@dataclass
class Run:
    """What one rerun sent back."""
    seconds: float  # from sending the change to the end of the run
    elements: list = field(default_factory=list)  # (seconds since send, element proto) in arrival order
    exceptions: list = field(default_factory=list)  # messages of exception elements
    status: int = -1  # ForwardMsg.script_finished
    drawn: list = field(default_factory=list)  # ids of the widgets drawn in this run
    wire: list = field(default_factory=list)  # (element id or type, bytes on the wire, sent as a reference?)

    def first(self, predicate) -> float | None:
        """Seconds from the send to the first element for which predicate(element) is true."""
        return next((t for t, el in self.elements if predicate(el)), None)


def widget_key(element_id: str) -> str | None:
    """The user key inside an element id ("$$ID-<hash>-<key>"), if it has one."""
    parts = element_id.split("-", 2)
    return parts[2] if element_id.startswith("$$ID") and len(parts) == 3 and parts[2] != "None" else None


class Session:
    """One browser tab's worth of protocol. Use `async with Session(url) as s: await s.rerun(...)`."""

    def __init__(self, url: str, timeout: float = 60.0, local_addr: tuple | None = None):
        self.url = url.rstrip("/")
        self.ws_url = url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self.timeout = timeout
        self.local_addr = local_addr  # e.g. ("127.0.0.5", 0): another loopback client address
        self.widgets: dict[str, Widget] = {}  # by key (or label when unkeyed)
        self.states: dict[str, WidgetState] = {}  # by widget id: what the page holds and re-sends
        self.cache: dict[str, ForwardMsg] = {}  # cacheable messages by hash, as the browser keeps them
        self.page_hash = ""
        self.component_data: dict[str, bytes] = {}  # components-v2 elements' bytes data, by key, as last drawn
        self.ws = None
        self.messages = 0
        self.bytes = 0

    async def __aenter__(self):
        extra = {"local_addr": self.local_addr} if self.local_addr else {}
        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None,
                                           open_timeout=self.timeout, ping_interval=None, **extra)
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def rerun(self, *changes: WidgetState, fragment_id: str = "") -> Run:
        """Send the widget changes (none: a plain page load), wait for the run to end."""
        for change in changes:
            self.states[change.id] = change
        msg = BackMsg()
        state = msg.rerun_script
        state.page_script_hash = self.page_hash
        state.fragment_id = fragment_id
        state.widget_states.widgets.extend(
            s for s in self.states.values() if not (s.HasField("trigger_value") or s.HasField("json_trigger_value")))
        state.widget_states.widgets.extend(c for c in changes if c.HasField("trigger_value")
                                           or c.HasField("json_trigger_value"))
        state.cached_message_hashes.extend(self.cache)
        started = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        run = Run(0.0)
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), self.timeout)
            except (websockets.ConnectionClosed, asyncio.TimeoutError) as e:
                raise ProtocolError(f"no end of run within {self.timeout} s ({type(e).__name__})") from None
            self.messages += 1
            self.bytes += len(raw)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            is_ref = fwd.WhichOneof("type") == "ref_hash"
            if is_ref:  # "you have this one already": as the browser, look it up
                if fwd.ref_hash not in self.cache:
                    raise ProtocolError(f"the server referred to message {fwd.ref_hash} that was never sent")
                full = ForwardMsg()
                full.CopyFrom(self.cache[fwd.ref_hash])
                full.metadata.CopyFrom(fwd.metadata)
                fwd = full
            elif fwd.metadata.cacheable:
                self.cache[fwd.hash] = fwd
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fwd.new_session.page_script_hash
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "add_block":
                run.drawn.append(self._note_widget(fwd.delta.add_block, fwd.delta.fragment_id))  # tabs: a block
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                run.elements.append((time.perf_counter() - started, el))
                kind_ = el.WhichOneof("type")
                run.wire.append((getattr(getattr(el, kind_), "id", "") or kind_, len(raw), is_ref))
                run.drawn.append(self._note_widget(el, fwd.delta.fragment_id))
                if kind_ == "bidi_component" and el.bidi_component.WhichOneof("data") == "bytes":
                    self.component_data[widget_key(el.bidi_component.id) or el.bidi_component.id] = \
                        el.bidi_component.bytes
                if el.WhichOneof("type") == "exception":
                    run.exceptions.append(f"{el.exception.type}: {el.exception.message}"[:300])
            elif kind == "script_finished":
                run.status = fwd.script_finished
                if fwd.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue
                run.seconds = time.perf_counter() - started
                if fwd.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                    self._forget_inactive(run)
                if fwd.script_finished not in FINISHED_OK:
                    run.exceptions.append(f"script finished with status {fwd.script_finished}")
                return run

    def _note_widget(self, el, fragment_id: str) -> None:
        kind = el.WhichOneof("type")
        inner = getattr(el, kind) if kind else el
        element_id = getattr(inner, "id", "") or getattr(el, "id", "")
        if not element_id or not isinstance(element_id, str):
            return None
        label = getattr(inner, "label", "")
        key = widget_key(element_id) or label or element_id
        self.widgets[key] = Widget(element_id, kind or "block", label, fragment_id)
        return element_id

    def _forget_inactive(self, run: Run) -> None:
        """After a full run, as the page does: drop widgets (and their states) not drawn in it."""
        drawn = set(run.drawn)
        self.widgets = {k: w for k, w in self.widgets.items() if w.id in drawn}
        self.states = {i: s for i, s in self.states.items() if i in drawn}

    def widget(self, key: str) -> Widget:
        if key not in self.widgets:
            raise ProtocolError(f"no widget {key!r} on the page (have: {', '.join(sorted(self.widgets))[:300]})")
        return self.widgets[key]

    # What the page sends for each kind of widget (the value types Streamlit registers them with).
    def slider(self, key: str, value: float) -> WidgetState:
        s = WidgetState(id=self.widget(key).id)
        s.double_array_value.data.append(float(value))
        return s

    def toggle(self, key: str, value: bool) -> WidgetState:
        return WidgetState(id=self.widget(key).id, bool_value=bool(value))

    def button(self, label: str) -> WidgetState:
        return WidgetState(id=self.widget(label).id, trigger_value=True)

    def choice(self, key: str, value: str) -> WidgetState:
        """selectbox, radio and tabs send the chosen option's text; a segmented control, a list of them"""
        w = self.widget(key)
        if w.kind == "button_group":
            s = WidgetState(id=w.id)
            s.string_array_value.data.append(str(value))
            return s
        return WidgetState(id=w.id, string_value=str(value))

    def number(self, key: str, value: float) -> WidgetState:
        return WidgetState(id=self.widget(key).id, double_value=float(value))

    def plotly_pick(self, key: str, index: int) -> WidgetState:
        """A click on the map point whose customdata is `index`, as plotly's selection event reports it."""
        sel = {"selection": {"points": [{"curve_number": 0, "point_number": 0, "point_index": 0,
                                         "customdata": index}],
                             "point_indices": [0], "box": [], "lasso": []}}
        return WidgetState(id=self.widget(key).id, string_value=json.dumps(sel))

    def component_state(self, key: str, state: dict) -> WidgetState:
        """A components-v2 element's state, as its setStateValue calls leave it."""
        return WidgetState(id=self.widget(key).id, json_value=json.dumps(state))
