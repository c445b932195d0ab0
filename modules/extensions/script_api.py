"""The A1111-shaped ``Script`` base class that extension scripts subclass.

A script is listed in the txt2img / img2img *Script* dropdown when ``show(is_img2img)`` returns True, runs on
every generation when it returns ``AlwaysVisible``, and is hidden when it returns False. ``ui(is_img2img)``
creates Gradio components; their values, in order, become ``*args`` of every hook. The hooks receive the
job's ``ProcessingState`` (A1111's ``p``). Method names, arguments and call order follow A1111 1.10, so a
simple A1111 script ports by changing its imports (see ``modules/extensions/README.md``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


class _AlwaysVisible:
    """The value ``show()`` returns for scripts that run on every generation (A1111's ``scripts.AlwaysVisible``)."""

    def __repr__(self) -> str:
        return "AlwaysVisible"


AlwaysVisible = _AlwaysVisible()


@dataclasses.dataclass
class PostprocessImageArgs:
    """``postprocess_image``'s argument: replace ``image`` to change the saved picture."""

    image: Any


@dataclasses.dataclass
class PostprocessBatchListArgs:
    images: list[Any]


@dataclasses.dataclass
class PostSampleArgs:
    """``post_sample``'s argument: the batch's latents after sampling, before decoding; replace ``samples``
    to change what is decoded."""

    samples: Any


@dataclasses.dataclass
class PostProcessMaskOverlayArgs:
    """``postprocess_maskoverlay``'s argument for image ``index`` of the batch: ``overlay_image`` (RGBA, the
    original where it is opaque) is pasted over the decoded image; replace it to change the composite.
    ``mask_for_overlay`` is A1111's separate mask: None here, the overlay's alpha is the mask."""

    index: int
    mask_for_overlay: Any
    overlay_image: Any


class Script:
    """Base class of extension scripts; override what you need (every hook is optional)."""

    # Set by the loader on each instance:
    filename: str = ""  # the script file
    extension: Any = None  # modules.extensions.context.ExtensionContext of the extension that shipped it
    is_txt2img: bool = False
    is_img2img: bool = False
    tabname: str = ""
    alwayson: bool = False
    group: Any = None
    infotext_fields: list | None = None
    paste_field_names: list[str] | None = None
    api_info: Any = None
    section: str | None = None
    sorting_priority: int = 0
    # Requests that give fewer args than ui() makes get the rest from the UI's defaults (A1111; building them
    # imports Gradio once). A script whose args are not positional UI values (ControlNet: one dict per unit)
    # sets this False and gets exactly what the request gave, possibly nothing.
    pad_args_with_defaults: bool = True

    # --- identity and UI --------------------------------------------------------------------------------
    def title(self) -> str:
        """Name shown in the Script dropdown; also the key of ``alwayson_scripts`` in the API."""
        raise NotImplementedError

    def show(self, is_img2img: bool) -> Any:
        """True (listed in the dropdown), False (hidden) or ``AlwaysVisible``."""
        return True

    def ui(self, is_img2img: bool) -> list[Any]:
        """Create this script's Gradio components inside the current Blocks; return those whose values are args."""
        return []

    def describe(self) -> str:
        return ""

    def elem_id(self, item_id: str) -> str:
        """A DOM id unique to this script and tab, as A1111 builds it."""
        title = "".join(ch if ch.isalnum() else "_" for ch in self.title().lower()).strip("_")
        return f"script_{self.tabname or ('img2img' if self.is_img2img else 'txt2img')}_{title}_{item_id}"

    # --- selectable scripts -------------------------------------------------------------------------------
    def run(self, p: Any, *args: Any) -> Any:
        """For scripts chosen in the dropdown: do the whole job and return a ``Processed``.

        Use ``self.process_images(p, **changes)`` for each image set to render (it runs the normal path with
        the always-on scripts, returns a ``Processed``, and never re-enters this script).
        """
        return None

    def process_images(self, p: Any, **changes: Any) -> Any:
        from modules.extensions.processing import process_images

        return process_images(p, **changes)

    # --- hooks (A1111 order) ------------------------------------------------------------------------------
    def setup(self, p: Any, *args: Any) -> None:
        pass

    def before_process(self, p: Any, *args: Any) -> None:
        pass

    def process(self, p: Any, *args: Any) -> None:
        pass

    def process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """Before each batch: ``kwargs`` has ``batch_number``, ``prompts``, ``seeds``, ``subseeds``."""

    def postprocess_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        """After each batch is decoded: ``kwargs`` has ``images`` and ``batch_number``."""

    def post_sample(self, p: Any, ps: PostSampleArgs, *args: Any) -> None:
        """After sampling, before the VAE decodes ``ps.samples`` (replace it to change the latents)."""

    def postprocess_maskoverlay(self, p: Any, ppmo: PostProcessMaskOverlayArgs, *args: Any) -> None:
        """Inpainting: before each image's overlay is pasted back; set ``ppmo.overlay_image`` to replace it."""

    def postprocess_image(self, p: Any, pp: PostprocessImageArgs, *args: Any) -> None:
        """Each image before it is saved; set ``pp.image`` to replace it."""

    def postprocess(self, p: Any, processed: Any, *args: Any) -> None:
        """Once the whole job is done (``processed`` holds every image and infotext)."""

    # --- component events (A1111): called for every Gradio component the page creates --------------------
    def before_component(self, component: Any, **kwargs: Any) -> None:
        """Before ``component`` is created; ``kwargs`` are its constructor arguments (``elem_id``, ``label``...)."""

    def after_component(self, component: Any, **kwargs: Any) -> None:
        """After ``component`` is created (e.g. remember ``txt2img_width`` to place controls beside it)."""

    def on_before_component(self, callback: Any, *, elem_id: str) -> None:
        """Call ``callback(OnComponent)`` before the component with this ``elem_id`` is created."""
        self.__dict__.setdefault("_on_before_component_elem_id", []).append((elem_id, callback))

    def on_after_component(self, callback: Any, *, elem_id: str) -> None:
        """Call ``callback(OnComponent)`` after the component with this ``elem_id`` is created."""
        self.__dict__.setdefault("_on_after_component_elem_id", []).append((elem_id, callback))

    # --- API helpers --------------------------------------------------------------------------------------
    def validate_args(self, args: tuple[Any, ...]) -> None:
        """Raise ValueError (the API answers 422) when API-supplied ``args`` cannot work."""

    def basedir(self) -> Path | None:
        return Path(self.extension.path) if self.extension is not None else None
