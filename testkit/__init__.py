"""Helpers shared by tests/ and bench/: a protocol-level Streamlit client, browser helpers."""
