"""A1111's "Interrogate CLIP": a BLIP caption followed by the best CLIP matches from each category list.

Files (never downloaded): ``models/BLIP/model_base_caption_capfilt_large.pth`` and a CLIP ViT-L/14 file in
``--clip-models-path`` (``models/CLIP``; see ``clip_model``). Both load on first use, with the job's progress
text telling which; ``interrogate_keep_models_in_memory`` keeps them loaded between calls, else they are
dropped after each interrogation (A1111 moves them to RAM; this build is CPU-first, so it frees them).
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


class ClipInterrogator:
    """Owns the BLIP and CLIP models and the category lists; one interrogation at a time."""

    def __init__(
        self, models_dir: Path, clip_dir: Path | None = None, data_dir: Path | None = None, settings: Any = None
    ) -> None:
        self.blip_path = Path(models_dir) / "BLIP" / blip.MODEL_FILE
        self.clip_dir = Path(clip_dir) if clip_dir else Path(models_dir) / "CLIP"
        self.data_dir = data_dir
        self.settings = settings
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

    def caption(self, image: Image.Image, report: Report | None = None) -> str:
        """BLIP caption only (Extras "Caption" with BLIP uses the full ``interrogate``, as A1111)."""
        with self._lock:
            try:
                return self._caption(image, report)
            finally:
                self._release()

    def interrogate(self, image: Image.Image, report: Report | None = None) -> str:
        """Caption plus category matches, A1111's text: ``caption, match, match, ...``."""
        report = report or (lambda text: None)
        self.require_files()
        with self._lock:
            try:
                caption = self._caption(image, report)
                if self._clip is None:
                    path = self.clip_path()
                    report(f"Loading CLIP model {path.name}")
                    log.info("Loading CLIP model from %s", path)
                    self._clip = clip_model.build_model(path)
                report("Ranking with CLIP")
                matches = self._rank(image)
                return categories.format_matches(caption, matches, bool(self._get("interrogate_return_ranks", False)))
            finally:
                self._release()

    def _caption(self, image: Image.Image, report: Report | None) -> str:
        report = report or (lambda text: None)
        self.require_files(need_clip=False)
        if self._blip is None:
            report(f"Loading BLIP model {self.blip_path.name}")
            log.info("Loading BLIP model from %s", self.blip_path)
            self._blip = blip.build_model(self.blip_path)
            self._tokenizer = blip.bert_tokenizer()
        report("Captioning with BLIP")
        return blip.caption(
            self._blip,
            self._tokenizer,
            image,
            num_beams=int(self._get("interrogate_clip_num_beams", 1)),
            min_length=int(self._get("interrogate_clip_min_length", 24)),
            max_length=int(self._get("interrogate_clip_max_length", 48)),
        )

    def _rank(self, image: Image.Image) -> list[tuple[str, float]]:
        """Per category, the top-N items by softmax(100 * cosine similarity), scores in 0..1 as A1111's /100."""
        features = clip_model.image_features(self._clip, image)
        matches: list[tuple[str, float]] = []
        for category in self.categories():
            text = self._text_cache.get(category.items)
            if text is None:
                text = clip_model.text_features(self._clip, list(category.items))
                if self._get("interrogate_keep_models_in_memory", False):
                    self._text_cache[category.items] = text
            probabilities = (100.0 * features @ text.T).softmax(dim=-1)[0]
            top = probabilities.topk(min(category.top_n, len(category.items)))
            matches += [(category.items[int(i)], float(p)) for p, i in zip(top.values, top.indices, strict=True)]
        return matches

    def _release(self) -> None:
        if not self._get("interrogate_keep_models_in_memory", False):
            self._blip = self._tokenizer = self._clip = None
            self._text_cache.clear()

    def unload(self) -> None:
        with self._lock:
            self._blip = self._tokenizer = self._clip = None
            self._text_cache.clear()
