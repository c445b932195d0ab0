"""Upscalers (None, Lanczos, Nearest, spandrel model files), latent upscale modes and face restoration.

``upscalers.UpscalerRegistry`` is the entry point; ``spandrel_loader`` reads and recognises model files and
is imported only when one is used; ``tiling`` runs networks tile by tile. Importing this package does not
import torch.
"""
