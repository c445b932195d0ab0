"""The ControlNet extension's own modules (imported by ``scripts/controlnet.py``; heavy imports inside functions)."""
