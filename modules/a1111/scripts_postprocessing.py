"""A1111's ``modules.scripts_postprocessing``: base classes of Extras-tab scripts (run by ``postprocess_scripts``)."""

from __future__ import annotations

from typing import Any


class PostprocessedImageSharedInfo:
    def __init__(self) -> None:
        self.target_width: int | None = None
        self.target_height: int | None = None


class PostprocessedImage:
    def __init__(self, image: Any) -> None:
        self.image = image
        self.info: dict[str, Any] = {}
        self.shared = PostprocessedImageSharedInfo()
        self.extra_images: list[Any] = []
        self.nametags: list[str] = []
        self.disable_processing = False
        self.caption: str | None = None

    def get_suffix(self, used_suffixes: Any = None) -> str:
        return "-".join(self.nametags)


class ScriptPostprocessing:
    filename: str | None = None
    controls: Any = None
    args_from: int | None = None
    args_to: int | None = None
    order = 1000
    name: str | None = None
    group: Any = None

    def ui(self) -> dict[str, Any]:
        return {}

    def process(self, pp: PostprocessedImage, **args: Any) -> None: ...

    def process_firstpass(self, pp: PostprocessedImage, **args: Any) -> None: ...

    def image_changed(self) -> None: ...
