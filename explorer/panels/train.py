"""The Train view: train a model and watch its latent space form, or replay how a model learned.

The picture (train_view.js) fetches the run's history from the server's history route and draws
it in the page: live while train.py runs (each answer only the new frames), or replayed with a
scrubber and a play button. train.py runs in its own process (explorer/backend/trainer.py); this
panel only starts it, writes its control file, and reads what its folder says. A viewer who may
not train (not on the server's machine, unless the server allows it) watches read-only.
"""
import json
import zlib

import streamlit as st

from explorer import state
from explorer.backend import bundle, picker, remote, trainer
from explorer.backend.snapshot import Snapshot
from explorer.panels.sidebar import training_allowed
from plots import class_colors
from vae_core import history

VERSION = 1  # of the message; train_view.js refuses any other
_view = st.components.v2.component("vae_train_view", js=bundle.module("train_view.js"),
                                   css=bundle.css("train_view.css"))
PRESETS = {"512,256,256 (quick)": "512,256,256", "512,512,256 (shipped)": "512,512,256", "256,128": "256,128",
           "64": "64"}
LIMITS = {"epochs": 200, "batch_size": 4096}


def tab(view: Snapshot) -> None:
    allowed = training_allowed()
    if allowed:
        trainer.keep_worker_waiting()  # torch imported and MNIST read before the Start click
    runs = trainer.runs()
    choices = {r.history: f"{r.name} · ● training" if r.pid else r.name for r in runs}
    if view.name.startswith("checkpoints/") and (picker.home() / view.name).with_suffix(".history").is_file():
        choices = {str(history.path_for(view.name)): f"{view.name} (the open model)", **choices}
    elif view.name.startswith("runs/") and f"{view.name[:-3]}.history" in choices:
        choices = {f"{view.name[:-3]}.history": choices[f"{view.name[:-3]}.history"],
                   **{k: v for k, v in choices.items() if k != f"{view.name[:-3]}.history"}}
    started = state.get(state.Key.TRAIN_STARTED)  # this session's Start, before its train.py has written anything
    starting = started is not None and started not in choices
    if starting:
        choices = {started: f"{started.split('/')[1]} · starting…", **choices}
    if state.get(state.Key.TRAIN_WATCH) not in choices:
        going = next((r.history for r in runs if r.pid), None)
        state.put(state.Key.TRAIN_WATCH, going or next(iter(choices), None))
    if allowed:
        with st.expander("New run", expanded=not choices):
            new_run_form()
    else:
        st.caption("Training from the page is offered only to a viewer on the server's own machine: "
                   "you watch runs here read-only.")
    if not choices:
        st.info("No run with a history yet" + (": start one above (train.py records one by default)." if allowed
                                                 else "."))
        return
    # a widget keyed by its options: when runs come, go or reorder, the browser's picker would keep its old
    # index and show (and send back) another run than the one watched; a new key starts it at the watched one
    options = list(choices)
    watch = st.selectbox("Run", options, index=options.index(state.get(state.Key.TRAIN_WATCH)),
                         format_func=choices.get,
                         key=f"{state.Key.TRAIN_PICK}_{zlib.crc32(chr(10).join(options).encode()):08x}",
                         help="A run with a history: live while it trains, else replayed. Any run of "
                              "train.py records one (model.history beside model.pt)")
    state.put(state.Key.TRAIN_WATCH, watch)
    run = next((r for r in runs if r.history == watch), None)
    if run is not None:
        run_controls(run, allowed)
    elif watch == started:
        st.caption("Starting the run…")
    live = (run is not None and run.pid is not None) or watch == started  # started here: live until it ends
    _view(key=state.Key.TRAIN_VIEW, data=message(watch, live, len(view.classes)),
          on_ended_change=run_ended, on_started_change=lambda: None)


def run_ended() -> None:
    """The page saw the run it watched live stop (or never start): the picker lists its model now."""
    state.ss.pop(state.Key.TRAIN_STARTED, None)
    picker.forget_checkpoint_list()


def message(h: str, live: bool, n_classes: int) -> str:
    return json.dumps({"v": VERSION, "url": remote.history_url(), "h": h, "live": live,
                       "colors": class_colors(max(n_classes, 10))})


def run_controls(run: trainer.Run, allowed: bool) -> None:
    """What the run is doing and, for a viewer who may train, its buttons."""
    what, epochs, why = trainer.state_of(run)
    if run.pid is None and state.get(state.Key.TRAIN_STARTED) == run.history:
        # started (or resumed) here, its train.py not yet under way: no second Start (the page says when it ends)
        st.caption(f"`{run.name}` is starting…")
        return
    if what == "damaged":
        st.error(f"`{run.history}` is damaged ({why}): it cannot be replayed; its model still opens in Explore.")
    elif what == "training":
        st.caption(f"`{run.name}` is training (pid {run.pid}); its map is redrawn as frames arrive.")
    elif what == "finished":
        st.caption(f"`{run.name}` finished ({epochs} epochs): drag the scrubber or press Play to replay it.")
    elif what == "stopped":
        st.caption(f"`{run.name}` was stopped after {epochs} whole epochs; Resume goes on from where it stopped.")
    elif what == "ended":
        line = trainer.last_line(run)
        st.warning(f"`{run.name}`'s training process ended without finishing (killed, or an error)"
                   + (f": {line}" if line else "") + ". Resume goes on from its last saved epoch.")
    if not allowed:
        return
    cols = st.columns(5)
    seq = state.get(state.Key.TRAIN_SEQ, 0) + 1
    if what == "training":
        if cols[0].button("Pause", key="train_pause"):
            trainer.control(run, "pause", seq)
        if cols[1].button("Run on", key="train_run"):
            trainer.control(run, "run", seq)
        if cols[2].button("Step", key="train_step", help="One Adam step (pauses the run first); the map shows it"):
            trainer.control(run, "step", seq)
        if cols[3].button("Stop", key="train_stop", help="Saves where it is; Resume goes on from there"):
            trainer.control(run, "stop", seq)
        state.put(state.Key.TRAIN_SEQ, seq)
    else:
        ckpt = run.folder / "model.pt"
        if what in ("stopped", "ended") and ckpt.is_file() and cols[0].button("Resume", key="train_resume", type="primary"):
            try:
                trainer.start(["--resume", "--no-pictures", "--epochs", str(run_epochs(run))], run.name)
                state.put(state.Key.TRAIN_STARTED, run.history)
                st.rerun()
            except trainer.Refused as e:
                st.error(str(e))
        if ckpt.is_file():
            cols[1].button("Open in Explore", key="train_open", on_click=open_in_explore, args=(run.checkpoint,))


def open_in_explore(checkpoint: str) -> None:
    """The run's model in the picker and the Explore view (a callback: before the widgets are drawn)."""
    picker.forget_checkpoint_list()
    state.put(state.Key.LINK_CKPT, checkpoint)  # the picker's default, should its value be lost
    state.put(state.Key.CKPT, checkpoint)
    state.put(state.Key.TAB, state.VIEWS[0])


def run_epochs(run: trainer.Run) -> int:
    try:
        return int(history.read(run.folder / "model.history", final=False).run.meta["epochs"])
    except (history.HistoryError, KeyError, ValueError):
        return 1


def new_run_form() -> None:
    """The run's settings, checked with the loader's bounds before anything is started."""
    with st.form("train_new", border=False):
        c1, c2, c3, c4 = st.columns(4)
        dataset = c1.selectbox("Dataset", ["mnist", "fashion-mnist"])
        arch = c2.selectbox("Architecture", ["mlp", "conv"])
        latent = c1.number_input("Latent size", 1, 1024, 2)
        preset = c2.selectbox("Layer widths", [*PRESETS, "other"])
        beta = c3.number_input("β (KL weight)", 0.0, 100.0, 1.0, 0.1)
        kl_warmup = c4.number_input("KL warm-up (fraction of steps)", 0.0, 1.0, 0.0, 0.05)
        epochs = c1.number_input("Epochs", 1, LIMITS["epochs"], 6)
        batch = c2.number_input("Batch size", 1, LIMITS["batch_size"], 256)
        lr = c3.number_input("Learning rate", 1e-5, 1.0, 5e-3, format="%.4f")
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0)
        widths = c3.text_input("Other widths (comma-separated)", "", placeholder="e.g. 400,200")
        name = c4.text_input("Run name", "my-run", max_chars=64)
        go = st.form_submit_button("Start", type="primary")
    if go:
        hidden = widths.strip() if preset == "other" else PRESETS[preset]
        try:
            argv = run_argv(dataset, arch, int(latent), hidden, beta, kl_warmup, int(epochs), int(batch), lr, int(seed))
            trainer.start(argv, name.strip())
        except (trainer.Refused, ValueError) as e:
            st.error(str(e))
            return
        state.put(state.Key.TRAIN_WATCH, f"runs/{name.strip()}/model.history")
        state.put(state.Key.TRAIN_STARTED, f"runs/{name.strip()}/model.history")
        st.rerun()


def run_argv(dataset, arch, latent, hidden, beta, kl_warmup, epochs, batch, lr, seed) -> list[str]:
    """train.py's arguments for the form's values; ValueError (one line) for values out of bounds."""
    from vae_core.model import VAEConfig  # torch, kept off the start-up path: the loader's bounds, on Start only
    try:
        widths = [int(w) for w in hidden.split(",") if w.strip()]
    except ValueError:
        raise ValueError(f"layer widths: expected comma-separated numbers like 512,256, got {hidden[:40]!r}") from None
    if not widths or min(widths) < 1:
        raise ValueError("layer widths: expected positive numbers like 512,256")
    VAEConfig(arch=arch, latent_dim=latent, hidden=widths)  # raises ValueError past the loader's limits
    return ["--quick", "--dataset", dataset, "--arch", arch, "--latent-dim", str(latent), "--hidden",
            ",".join(map(str, widths)), "--beta", repr(float(beta)), "--kl-warmup", repr(float(kl_warmup)),
            "--epochs", str(epochs), "--batch-size", str(batch), "--lr", repr(float(lr)), "--seed", str(seed)]
