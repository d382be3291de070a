"""What AppTest cannot do by itself, for tests/ and bench/: send a components-v2 element's state."""
import json


def send_state(at, component: str, state: dict) -> None:
    """Run the app as after the page's setStateValue on the element of `component` (the end of its
    name). AppTest has no handle for a components-v2 element's state, so this adds it to the widget
    states AppTest's own run would send."""
    node = next(e for e in at.get("bidi_component") if e.proto.component_name.endswith(component))
    states = at._tree.get_widget_states()
    states.widgets.add(id=node.proto.id, json_value=json.dumps(state))
    at._run(states)


def commit(at, z) -> None:
    """What the decoder panel (explorer/live.js) sends on a release: its state {"z": z}."""
    send_state(at, "vae_live_decoder", {"z": list(z)})
