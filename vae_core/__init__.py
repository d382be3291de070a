"""vae_core: the VAE library behind train.py and the explorer (torch only, no UI)."""
