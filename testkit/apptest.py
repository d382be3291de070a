"""What AppTest cannot do by itself, for tests/ and bench/: send a components-v2 element's state."""
import json


def commit(at, z) -> None:
    """What the decoder panel (explorer/live.js) sends on a release: its state {"z": z}, as the page's
    setStateValue would. AppTest has no handle for a components-v2 element's state, so this adds it to
    the widget states AppTest's own run would send."""
    node = next(e for e in at.get("bidi_component") if e.proto.component_name.endswith("vae_live_decoder"))
    states = at._tree.get_widget_states()
    states.widgets.add(id=node.proto.id, json_value=json.dumps({"z": list(z)}))
    at._run(states)
