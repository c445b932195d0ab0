"""Upscalers: A1111's named list (None, Lanczos, Nearest, ESRGAN-family files), latent upscale modes.

``upscalers.UpscalerRegistry`` is the entry point; ``esrgan`` holds the networks and is imported only when
a model file is used. Importing this package does not import torch.
"""
