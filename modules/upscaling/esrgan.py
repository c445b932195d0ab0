"""ESRGAN-family super-resolution networks, recognised from their weights, and tiled inference.

A1111 1.10 loads these through ``spandrel``, which cannot be imported without torchvision (its registry
imports LaMa and RestoreFormer at package import), so the two families that cover almost every file users
put in ``models/ESRGAN`` are written here:

* RRDBNet: ESRGAN and Real-ESRGAN x4plus/x2plus/anime, in the BasicSR key layout (``conv_first``,
  ``body.N.rdbK.convJ``, ``conv_body``, ``conv_upK``, ``conv_hr``, ``conv_last``) and the original ESRGAN
  layout (``model.0``, ``model.1.sub.N.RDBK.convJ.0``, ...), which is renamed to the first on load.
* SRVGGNetCompact: Real-ESRGAN "General 4xV3" / "AnimeVideo" (``body.N`` convolutions and PReLUs).

Sizes (channels, blocks, growth, scale) are read from tensor shapes, so tiny test files and real ones take
the same path. Weights are read with safetensors or ``torch.load(weights_only=True)``: never unpickled code.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from modules.models.errors import ModelLoadError
from modules.models.safe_text import printable_name

log = logging.getLogger(__name__)

_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net")


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1)


class _DenseBlock(nn.Module):
    """Five densely connected convolutions with a 0.2-scaled residual."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        for i in range(4):
            self.add_module(f"conv{i + 1}", _conv(nf + i * gc, gc))
        self.conv5 = _conv(nf + 4 * gc, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x


class _RRDB(nn.Module):
    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = _DenseBlock(nf, gc), _DenseBlock(nf, gc), _DenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN generator; ``unshuffle`` > 1 is Real-ESRGAN's pixel-unshuffle input for x2/x1 models."""

    def __init__(self, in_ch: int, out_ch: int, nf: int, nb: int, gc: int, n_up: int, unshuffle: int) -> None:
        super().__init__()
        self.unshuffle = unshuffle
        self.n_up = n_up
        self.scale = 2**n_up // unshuffle
        self.conv_first = _conv(in_ch, nf)
        self.body = nn.Sequential(*[_RRDB(nf, gc) for _ in range(nb)])
        self.conv_body = _conv(nf, nf)
        for k in range(1, n_up + 1):
            self.add_module(f"conv_up{k}", _conv(nf, nf))
        self.conv_hr = _conv(nf, nf)
        self.conv_last = _conv(nf, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.unshuffle > 1:
            pad_h, pad_w = -height % self.unshuffle, -width % self.unshuffle
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for k in range(1, self.n_up + 1):
            up = getattr(self, f"conv_up{k}")
            feat = F.leaky_relu(up(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        out = self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
        return out[..., : height * self.scale, : width * self.scale]


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN compact network: plain conv/PReLU stack, pixel shuffle, plus a nearest-upscaled input."""

    def __init__(self, in_ch: int, out_ch: int, nf: int, num_conv: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [_conv(in_ch, nf), nn.PReLU(nf)]
        for _ in range(num_conv):
            layers += [_conv(nf, nf), nn.PReLU(nf)]
        layers.append(_conv(nf, out_ch * scale * scale))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pixel_shuffle(self.body(x), self.scale)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of an upscaler file, unwrapped from ``params_ema``/``params``/... and ``module.`` prefixes.

    Read through the checkpoint readers (header limits, safe unpickler): ModelLoadError naming the file.
    """
    from modules.models.statedict import load_pickle, open_state_dict

    data: object
    if path.suffix.lower() == ".safetensors":
        state_file = open_state_dict(path)
        try:
            data = state_file.read(state_file.keys(), lambda key: None)
        finally:
            state_file.close()
    else:
        if path.stat().st_size == 0:
            raise ModelLoadError(path, "the file is empty (0 bytes); it was probably not downloaded completely")
        data = load_pickle(path, mmap=False)
    while isinstance(data, dict) and not any(isinstance(v, torch.Tensor) for v in data.values()):
        inner = next((data[k] for k in _WRAPPER_KEYS if isinstance(data.get(k), dict)), None)
        if inner is None:
            break
        data = inner
    if not isinstance(data, dict):
        raise ModelLoadError(path, "is not an upscaler model (no tensors in it)")
    return {k.removeprefix("module."): v for k, v in data.items() if isinstance(v, torch.Tensor)}


def _rename_old_esrgan(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original ESRGAN (``model.N``) keys to the BasicSR names RRDBNet uses."""
    top = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"model\.(\d+)\.weight", k))})
    convs = [i for i in top if i >= 2]
    if len(convs) < 2:
        raise ValueError("old-style ESRGAN state dict without HR convolutions")
    names = {0: "conv_first", convs[-2]: "conv_hr", convs[-1]: "conv_last"}
    names.update({i: f"conv_up{n + 1}" for n, i in enumerate(convs[:-2])})
    n_blocks = max(int(m.group(1)) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", k))) + 1
    renamed: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if m := re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key):
            block, rdb, conv, kind = m.groups()
            renamed[f"body.{block}.rdb{rdb}.conv{conv}.{kind}"] = value
        elif m := re.fullmatch(rf"model\.1\.sub\.{n_blocks}\.(weight|bias)", key):
            renamed[f"conv_body.{m.group(1)}"] = value
        elif (m := re.fullmatch(r"model\.(\d+)\.(weight|bias)", key)) and int(m.group(1)) in names:
            renamed[f"{names[int(m.group(1))]}.{m.group(2)}"] = value
        else:
            raise ValueError(f"unexpected key {key!r} in old-style ESRGAN state dict")
    return renamed


def _build_rrdb(sd: dict[str, torch.Tensor]) -> RRDBNet:
    nf, in_ch = sd["conv_first.weight"].shape[:2]
    out_ch = sd["conv_last.weight"].shape[0]
    gc = sd["body.0.rdb1.conv1.weight"].shape[0]
    nb = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    n_up = sum(1 for k in sd if re.fullmatch(r"conv_up\d+\.weight", k))
    unshuffle = {1: 1, 4: 2, 16: 4}.get(in_ch // out_ch) if in_ch % out_ch == 0 else None
    if unshuffle is None:
        raise ValueError(f"RRDBNet with {in_ch} input and {out_ch} output channels is not supported")
    return RRDBNet(in_ch, out_ch, nf, nb, gc, n_up, unshuffle)


def _build_compact(sd: dict[str, torch.Tensor]) -> SRVGGNetCompact:
    last = max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    nf, in_ch = sd["body.0.weight"].shape[:2]
    scale = math.isqrt(sd[f"body.{last}.weight"].shape[0] // in_ch)
    return SRVGGNetCompact(in_ch, in_ch, nf, (last - 2) // 2, scale)


def build_model(sd: dict[str, torch.Tensor], source: str = "state dict") -> nn.Module:
    """Recognise the architecture from key names and shapes, build it and load the weights strictly."""
    if "model.0.weight" in sd and any(k.startswith("model.1.sub.") for k in sd):
        sd = _rename_old_esrgan(sd)
    if "conv_first.weight" in sd and "body.0.rdb1.conv1.weight" in sd:
        model: nn.Module = _build_rrdb(sd)
    elif "body.0.weight" in sd and sd.get("body.1.weight", torch.empty(0, 0)).ndim == 1:
        model = _build_compact(sd)
    else:
        sample = ", ".join(sorted(sd)[:5])
        raise ValueError(f"{source}: unsupported upscaler architecture (keys: {sample}, ...)")
    model.load_state_dict(sd, strict=True)
    return model.eval()


def load_model(path: Path) -> nn.Module:
    """The network of an upscaler file; ModelLoadError (one plain sentence naming the file) when unusable."""
    try:
        state = read_state_dict(path)
    except OSError as error:  # removed or unreadable since the list was made
        raise ModelLoadError(path, f"cannot be read ({error.strerror or error})") from error
    try:
        return build_model(state, printable_name(path.name))
    except (ValueError, KeyError, IndexError, RuntimeError, TypeError) as error:  # wrong keys or shapes
        raise ModelLoadError(path, f"is not a usable upscaler model: {error}") from error


def _positions(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    count = math.ceil((size - overlap) / (tile - overlap))
    return [round(i * (size - tile) / (count - 1)) for i in range(count)]


def _ramp(length: int, fade: int, start: bool, end: bool) -> torch.Tensor:
    weight = torch.ones(length)
    fade = min(fade, length // 2)
    if fade > 0:
        rise = torch.arange(1, fade + 1, dtype=torch.float32) / (fade + 1)
        if start:
            weight[:fade] = rise
        if end:
            weight[length - fade :] = rise.flip(0)
    return weight


@torch.inference_mode()
def upscale_tensor(
    model: nn.Module,
    image: torch.Tensor,
    tile: int,
    overlap: int,
    progress: Callable[[int, int], None] | None = None,
    desc: str = "Upscaling",
) -> torch.Tensor:
    """Run ``model`` on a (1, C, H, W) tensor in overlapping tiles blended with linear ramps.

    ``tile`` <= 0 runs the whole image at once. ``progress(done, total)`` is called after each tile; raising
    from it stops the work (job cancellation).
    """
    from tqdm import tqdm

    _, _, height, width = image.shape
    if tile <= 0:
        tile = max(height, width)
    tile_h, tile_w = min(tile, height), min(tile, width)
    overlap = max(0, min(overlap, tile // 2))
    ys, xs = _positions(height, tile_h, overlap), _positions(width, tile_w, overlap)
    result = weights = None
    scale = 1
    total = len(ys) * len(xs)
    with tqdm(total=total, desc=desc, disable=total == 1) as bar:
        for y in ys:
            for x in xs:
                out = model(image[..., y : y + tile_h, x : x + tile_w]).float()
                if result is None:
                    scale = out.shape[-1] // tile_w
                    result = torch.zeros((*out.shape[:2], height * scale, width * scale), device=out.device)
                    weights = torch.zeros((1, 1, height * scale, width * scale), device=out.device)
                fade = overlap * scale
                wy = _ramp(out.shape[-2], fade, y > 0, y + tile_h < height)
                wx = _ramp(out.shape[-1], fade, x > 0, x + tile_w < width)
                weight = (wy[:, None] * wx[None, :]).to(out.device)
                rows = slice(y * scale, y * scale + out.shape[-2])
                cols = slice(x * scale, x * scale + out.shape[-1])
                region = (..., rows, cols)
                result[region] += out * weight
                weights[region] += weight
                bar.update(1)
                if progress is not None:
                    progress(bar.n, total)
    assert result is not None and weights is not None
    return result / weights
