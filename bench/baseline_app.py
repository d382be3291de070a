"""The smallest Streamlit app with a slider and an image: the floor for bench/app_speed.py's release latency."""
import io

import numpy as np
import streamlit as st
from PIL import Image

st.subheader("Decoder")
v = st.slider("z0", -3.0, 3.0, 0.0, 0.01)
pixels = np.random.default_rng(int(round(v * 100)) + 1000).integers(0, 256, (28, 28), dtype=np.uint8)
buf = io.BytesIO()
Image.fromarray(pixels).resize((280, 280), Image.NEAREST).save(buf, format="PNG")
st.image(buf.getvalue(), width=280, output_format="PNG")
