"""explorer: the Streamlit latent-space app and its Plotly figures."""
