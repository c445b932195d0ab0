"""Model subsystem: checkpoint discovery, detection, loading, text conditioning, VAE, LoRA (see README.md)."""
