"""Scripts shipped with the program (A1111's root ``scripts/`` folder): X/Y/Z plot, Prompt matrix,
Prompts from file or textbox, and for img2img SD upscale, Outpainting mk2, Poor man's outpainting,
Loopback and the always-on Soft inpainting (A1111's built-in extension). Every public module here is loaded
as a script file by the extension manager; helper modules start with ``_``."""
