"""A1111's settings sections (id, label, category), shared by every subsystem's option declarations."""

from __future__ import annotations

from modules.settings.registry import Section

SAVING_IMAGES = Section("saving-images", "Saving images/grids", "Saving images")
SAVING_PATHS = Section("saving-paths", "Paths for saving", "Saving images")
SAVING_TO_DIRS = Section("saving-to-dirs", "Saving to a directory", "Saving images")
UPSCALING = Section("upscaling", "Upscaling", "Postprocessing")
FACE_RESTORATION = Section("face-restoration", "Face restoration", "Postprocessing")
INTERROGATE = Section("interrogate", "Interrogate", "Postprocessing")
SYSTEM = Section("system", "System", "System")
API = Section("api", "API", "System")
STABLE_DIFFUSION = Section("sd", "Stable Diffusion", "Stable Diffusion")
SDXL = Section("sdxl", "Stable Diffusion XL", "Stable Diffusion")
VAE = Section("vae", "VAE", "Stable Diffusion")
IMG2IMG = Section("img2img", "img2img", "Stable Diffusion")
OPTIMIZATIONS = Section("optimizations", "Optimizations", "Stable Diffusion")
COMPATIBILITY = Section("compatibility", "Compatibility", "Stable Diffusion")
PROMPT_EDITING = Section("prompt-editing", "Prompt editing", "Stable Diffusion")
USER_INTERFACE = Section("ui", "User interface", "User Interface")
INFOTEXT = Section("infotext", "Infotext", "User Interface")
LIVE_PREVIEWS = Section("ui-live-preview", "Live previews", "User Interface")
SAMPLER_PARAMS = Section("sampler-params", "Sampler parameters", "Stable Diffusion")
EXTENSIONS = Section("extensions", "Extensions", "System")
