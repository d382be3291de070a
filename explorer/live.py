"""Live decoding in the browser (stub until the JS widget lands): server-side decoding for now."""
import streamlit as st


def sidebar_toggle(model) -> bool:
    return False


def live_decoder(*args) -> None:
    raise NotImplementedError
