"""DeepBooru tagging (A1111's "Interrogate DeepBooru") from the user-placed ``model-resnet_custom_v3.pt``.

The network is the TorchDeepDanbooru port A1111 ships: 179 convolutions named ``n_Conv_0`` .. ``n_Conv_178``
arranged as a bottleneck ResNet with TensorFlow-style "same" padding, ending in one 1x1 convolution per tag,
global average pooling and a sigmoid. ``PLAN`` lists the blocks by convolution index; channel counts are read
from the weights, so the released file and small test files take the same path. The file also carries the
tag names (``tags``). Nothing is downloaded: a missing file is a ModelLoadError naming it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from modules.models.errors import ModelLoadError

MODEL_FILE = "model-resnet_custom_v3.pt"
INPUT_SIZE = 512
HEAD = 178


def _plan() -> list[tuple[int | None, tuple[int, int, int], bool, bool]]:
    """Blocks as (shortcut conv or None, (1x1, 3x3, 1x1) convs, strided, shortcut numbered after the body)."""
    blocks: list[tuple[int | None, tuple[int, int, int], bool, bool]] = []

    def stage(shortcut: int, strided: bool, identities: int) -> int:
        blocks.append((shortcut, (shortcut + 1, shortcut + 2, shortcut + 3), strided, False))
        start = shortcut + 4
        for index in range(identities):
            first = start + 3 * index
            blocks.append((None, (first, first + 1, first + 2), False, False))
        return start + 3 * identities

    stage(1, False, 2)  # convs 1..10
    stage(11, True, 7)  # 11..35
    after = stage(36, True, 19)  # 36..96
    blocks.append((after + 3, (after, after + 1, after + 2), True, True))  # 97..100: shortcut numbered last
    for index in range(19):  # 101..157
        first = after + 4 + 3 * index
        blocks.append((None, (first, first + 1, first + 2), False, False))
    stage(158, True, 2)  # 158..167
    stage(168, True, 2)  # 168..177
    return blocks


PLAN = _plan()


class DeepDanbooru:
    """The network built from a state dict (``n_Conv_N.weight``/``.bias`` tensors)."""

    def __init__(self, state: dict[str, Any], tags: Sequence[str]) -> None:
        import torch
        from torch import nn

        def conv(index: int, stride: int = 1) -> nn.Conv2d:
            weight = state[f"n_Conv_{index}.weight"]
            bias = f"n_Conv_{index}.bias" in state
            layer = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), stride=stride, bias=bias)
            layer.weight.data.copy_(weight)
            if bias:
                layer.bias.data.copy_(state[f"n_Conv_{index}.bias"])
            return layer

        self.stem = conv(0, 2)
        self.blocks = []
        for shortcut, (first, middle, last), strided, _late in PLAN:
            stride = 2 if strided else 1
            self.blocks.append(
                (
                    conv(shortcut, stride) if shortcut is not None else None,
                    conv(first),
                    conv(middle, stride),
                    conv(last),
                )
            )
        self.head = conv(HEAD)
        self.tags = list(tags)
        if self.head.out_channels != len(self.tags):
            raise ValueError(f"the file names {len(self.tags)} tags but its last layer gives {self.head.out_channels}")
        self.torch = torch

    def __call__(self, pixels: Any) -> Any:
        """(N, H, W, 3) floats in 0..1 -> (N, tags) probabilities."""
        F = self.torch.nn.functional
        x = F.relu(self.stem(F.pad(pixels.permute(0, 3, 1, 2), [2, 3, 2, 3])))
        x = F.max_pool2d(F.pad(x, [0, 1, 0, 1], value=float("-inf")), 3, 2)
        for shortcut, first, middle, last in self.blocks:
            body = F.relu(first(x))
            body = F.pad(body, [0, 1, 0, 1] if middle.stride[0] == 2 else [1, 1, 1, 1])
            body = last(F.relu(middle(body)))
            x = F.relu(body + (shortcut(x) if shortcut is not None else x))
        return self.torch.sigmoid(self.head(x).mean(dim=(2, 3)))


def read_model(path: Path) -> DeepDanbooru:
    """The network and tags of a DeepBooru file; ModelLoadError naming the file when missing or wrong."""
    import torch

    from modules.models.statedict import load_pickle

    if not path.is_file():
        raise ModelLoadError(path, f"is missing: DeepBooru needs A1111's {MODEL_FILE} here (never downloaded)")
    data = load_pickle(path, mmap=False)
    if not isinstance(data, dict):
        raise ModelLoadError(path, "is not a DeepBooru model (no state dict in it)")
    tags = data.get("tags")
    state = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ModelLoadError(path, "is not a DeepBooru model (it has no tag list)")
    try:
        with torch.no_grad():
            return DeepDanbooru(state, tags)
    except (KeyError, ValueError, RuntimeError, IndexError) as error:
        raise ModelLoadError(path, f"is not a DeepBooru model ({error})") from error


def format_tags(
    probabilities: Sequence[float],
    tags: Sequence[str],
    *,
    threshold: float = 0.5,
    sort_alpha: bool = True,
    use_spaces: bool = True,
    escape: bool = True,
    include_ranks: bool = False,
    filter_tags: Sequence[str] = (),
) -> str:
    """A1111's DeepBooru prompt: tags at or above ``threshold`` (no ``rating:`` tags), comma-separated."""
    chosen = [
        (tag, float(p))
        for tag, p in zip(tags, probabilities, strict=True)
        if float(p) >= threshold and not tag.startswith("rating:") and tag not in set(filter_tags)
    ]
    chosen.sort(key=(lambda item: item[0]) if sort_alpha else (lambda item: -item[1]))
    words = []
    for tag, p in chosen:
        text = tag.replace("_", " ") if use_spaces else tag
        if escape:
            text = re.sub(r"([\\()])", r"\\\1", text)
        words.append(f"({text}:{p:.3f})" if include_ranks else text)
    return ", ".join(words)


class DeepBooru:
    """Loads ``models/torch_deepdanbooru/model-resnet_custom_v3.pt`` on first use and tags images."""

    def __init__(self, models_dir: Path, settings: Any = None) -> None:
        self.path = Path(models_dir) / "torch_deepdanbooru" / MODEL_FILE
        self.settings = settings
        self._lock = threading.Lock()
        self._model: DeepDanbooru | None = None

    def require_file(self) -> None:
        if not self.path.is_file():
            raise ModelLoadError(self.path, f"is missing: DeepBooru needs A1111's {MODEL_FILE} here (never downloaded)")

    def tag(self, image: Image.Image) -> str:
        import numpy as np
        import torch

        from modules.images.ops import resize_image

        with self._lock:
            if self._model is None:
                self._model = read_model(self.path)
            picture = resize_image(2, image.convert("RGB"), INPUT_SIZE, INPUT_SIZE)  # A1111: resize and fill
            pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32)[None] / 255.0)
            with torch.no_grad():
                probabilities = self._model(pixels)[0].tolist()
        get = (lambda key, default: default) if self.settings is None else self.settings.get
        filters = [t.strip() for t in str(get("deepbooru_filter_tags", "") or "").split(",") if t.strip()]
        return format_tags(
            probabilities,
            self._model.tags,
            threshold=float(get("interrogate_deepbooru_score_threshold", 0.5)),
            sort_alpha=bool(get("deepbooru_sort_alpha", True)),
            use_spaces=bool(get("deepbooru_use_spaces", True)),
            escape=bool(get("deepbooru_escape", True)),
            include_ranks=bool(get("interrogate_return_ranks", False)),
            filter_tags=filters,
        )
