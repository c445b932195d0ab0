"""``--medvram`` / ``--lowvram``: keep weights in RAM and move only the part that runs to the GPU.

Forward pre-hooks (never a replaced ``forward``) move a unit to the GPU just before it runs and send the
previously active unit back to the CPU, so at most one unit's weights occupy VRAM:

- medvram: units are the text encoders, the UNet, the VAE encoder side and the VAE decoder side (A1111
  moves ``cond_stage_model``, ``first_stage_model`` and ``diffusion_model`` the same way).
- lowvram: the UNet is further split into its down blocks, mid block and up blocks; its small stem and head
  (conv_in, time/label embeddings, conv_out) stay on the GPU.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class Offloader:
    """Tracks which unit is on the GPU; a unit is a list of modules that move together."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.active: tuple[Any, ...] | None = None
        self._lock = threading.Lock()
        self._handles: list[Any] = []

    def activate(self, unit: tuple[Any, ...]) -> None:
        with self._lock:
            if self.active is unit:
                return
            if self.active is not None:
                for module in self.active:
                    module.to("cpu")
            for module in unit:
                module.to(self.device)
            self.active = unit

    def add_unit(self, unit: tuple[Any, ...], hook_points: list[Any]) -> None:
        for point in hook_points:
            self._handles.append(point.register_forward_pre_hook(lambda _m, _a, unit=unit: self.activate(unit)))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def attach_offload(model: Any, device: Any, mode: str) -> Offloader:
    """Install the hooks on ``model`` (weights on the CPU) and remember the offloader on it."""
    offloader = Offloader(device)
    for encoder in model.text_encoders:
        offloader.add_unit((encoder,), [encoder])
    vae = model.vae
    decode_side = (vae.decoder, vae.post_quant_conv) if vae.post_quant_conv is not None else (vae.decoder,)
    encode_side = (vae.encoder, vae.quant_conv) if vae.quant_conv is not None else (vae.encoder,)
    offloader.add_unit(decode_side, list(decode_side))
    offloader.add_unit(encode_side, list(encode_side))
    unet = model.unet
    if mode == "lowvram":
        blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
        block_ids = {id(block) for block in blocks if block is not None}
        for name, child in unet.named_children():
            if id(child) not in block_ids and name not in ("down_blocks", "up_blocks", "mid_block"):
                child.to(device)  # small stem/head modules stay on the GPU
        for block in blocks:
            if block is not None:
                offloader.add_unit((block,), [block])
    else:
        offloader.add_unit((unet,), [unet])
    model.offloader = offloader
    log.info("%s: model parts are moved to %s only while they run", mode, device)
    return offloader
