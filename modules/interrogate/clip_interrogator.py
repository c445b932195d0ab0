"""A1111's "Interrogate CLIP": a BLIP caption followed by the best CLIP matches from each category list.

Files (never downloaded): ``models/BLIP/model_base_caption_capfilt_large.pth`` and a CLIP ViT-L/14 file in
``--clip-models-path`` (``models/CLIP``; see ``clip_model``). Both load on first use, with the job's progress
text telling which, and then stay in RAM as in A1111: they run on the generation device and go back to the
CPU after each interrogation unless ``interrogate_keep_models_in_memory`` ("Keep models in VRAM") is on.
Category embeddings are computed once per list and kept on the CPU (they depend only on the CLIP weights).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from modules.interrogate import blip, categories, clip_model
from modules.models.errors import ModelLoadError

log = logging.getLogger(__name__)

Report = Callable[[str], None]


def _silent(text: str) -> None:
    pass


class ClipInterrogator:
    """Owns the BLIP and CLIP models and the category lists; one interrogation at a time."""

    def __init__(
        self,
        models_dir: Path,
        clip_dir: Path | None = None,
        data_dir: Path | None = None,
        settings: Any = None,
        device: Callable[[], Any] | None = None,
    ) -> None:
        self.blip_path = Path(models_dir) / "BLIP" / blip.MODEL_FILE
        self.clip_dir = Path(clip_dir) if clip_dir else Path(models_dir) / "CLIP"
        self.data_dir = data_dir
        self.settings = settings
        self._device = device or (lambda: "cpu")
        self._lock = threading.Lock()
        self._blip: Any = None
        self._tokenizer: Any = None
        self._clip: Any = None
        self._text_cache: dict[tuple[str, ...], Any] = {}

    def _get(self, key: str, default: Any) -> Any:
        return default if self.settings is None else self.settings.get(key, default)

    def clip_path(self) -> Path | None:
        return clip_model.find_file(self.clip_dir)

    def require_files(self, need_clip: bool = True) -> None:
        """ModelLoadError naming the first missing file and its folder, before any work."""
        if not self.blip_path.is_file():
            raise ModelLoadError(
                self.blip_path,
                f"is missing: Interrogate CLIP needs Salesforce BLIP's {blip.MODEL_FILE} in {self.blip_path.parent} "
                "(never downloaded)",
            )
        if need_clip and self.clip_path() is None:
            raise ModelLoadError(
                self.clip_dir / clip_model.PREFERRED_FILES[0],
                f"is missing: Interrogate CLIP needs OpenAI's CLIP ViT-L/14 ({', '.join(clip_model.PREFERRED_FILES)}) "
                f"in {self.clip_dir} (never downloaded)",
            )

    def categories(self) -> list[categories.Category]:
        skip = self._get("interrogate_clip_skip_categories", []) or []
        limit = int(self._get("interrogate_clip_dict_limit", 1500) or 0)
        return categories.load_categories(categories.category_folder(self.data_dir), skip, limit)

    def interrogate(self, image: Image.Image, report: Report | None = None) -> str:
        """Caption plus category matches, A1111's text: ``caption, match, match, ...``."""
        report = report or _silent
        self.require_files()
        with self._lock:
            try:
                self._load_blip(report)
                self._load_clip(report)
                self._move(self._device())
                caption = self._caption(image, report)
                report("Ranking with CLIP")
                matches = self._rank(image)
            finally:
                self._park()
        return categories.format_matches(caption, matches, bool(self._get("interrogate_return_ranks", False)))

    def generate_caption(self, image: Image.Image, report: Report | None = None) -> str:
        """The BLIP caption alone (A1111's ``shared.interrogator.generate_caption``)."""
        report = report or _silent
        self.require_files(need_clip=False)
        with self._lock:
            try:
                self._load_blip(report)
                self._move(self._device())
                return self._caption(image, report)
            finally:
                self._park()

    def _caption(self, image: Image.Image, report: Report) -> str:
        report("Captioning with BLIP")
        return blip.caption(
            self._blip,
            self._tokenizer,
            image.convert("RGB"),
            num_beams=int(self._get("interrogate_clip_num_beams", 1)),
            min_length=int(self._get("interrogate_clip_min_length", 24)),
            max_length=int(self._get("interrogate_clip_max_length", 48)),
        )

    def _load_blip(self, report: Report) -> None:
        if self._blip is None:
            report(f"Loading BLIP model {self.blip_path.name}")
            log.info("Loading BLIP model from %s", self.blip_path)
            self._blip = blip.build_model(self.blip_path)
            self._tokenizer = blip.bert_tokenizer()

    def _load_clip(self, report: Report) -> None:
        if self._clip is None:
            path = self.clip_path()
            report(f"Loading CLIP model {path.name}")
            log.info("Loading CLIP model from %s", path)
            self._clip = clip_model.build_model(path)
            self._text_cache.clear()

    def _park(self) -> None:
        """Back to RAM after use unless "Keep models in VRAM" (A1111's send_*_to_ram)."""
        if not self._get("interrogate_keep_models_in_memory", False):
            self._move("cpu")

    def _move(self, device: Any) -> None:
        for model in (self._blip, self._clip):
            if model is not None:
                model.to(device)

    def _rank(self, image: Image.Image) -> list[tuple[str, float]]:
        """Per category, the top-N items by softmax(100 * cosine similarity), scores in 0..1 as A1111's /100."""
        features = clip_model.image_features(self._clip, image).cpu()
        matches: list[tuple[str, float]] = []
        for category in self.categories():
            text = self._text_cache.get(category.items)
            if text is None:
                text = self._text_cache[category.items] = clip_model.text_features(self._clip, list(category.items))
            probabilities = (100.0 * features @ text.T).softmax(dim=-1)[0]
            top = probabilities.topk(min(category.top_n, len(category.items)))
            matches += [(category.items[int(i)], float(p)) for p, i in zip(top.values, top.indices, strict=True)]
        return matches

    def unload(self) -> None:
        """Drop both models and the cached category embeddings (frees their RAM)."""
        with self._lock:
            self._blip = self._tokenizer = self._clip = None
            self._text_cache.clear()
