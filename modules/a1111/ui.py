"""A1111's ``modules.ui`` helpers extensions call (``create_refresh_button``, ``plaintext_to_html``, symbols)."""

from __future__ import annotations

from typing import Any

from modules.a1111.ui_common import create_refresh_button, plaintext_to_html  # noqa: F401

refresh_symbol = "\U0001f504"  # 🔄
save_style_symbol = "\U0001f4be"  # 💾
apply_style_symbol = "\U0001f4cb"  # 📋
clear_prompt_symbol = "\U0001f5d1\ufe0f"  # 🗑️
extra_networks_symbol = "\U0001f3b4"  # 🎴
switch_values_symbol = "\U000021c5"  # ⇅
restore_progress_symbol = "\U0001f300"  # 🌀
detect_image_size_symbol = "\U0001f4d0"  # 📐


def __getattr__(name: str) -> Any:
    if name == "ToolButton":
        from modules.a1111.ui_components import ToolButton

        return ToolButton
    raise AttributeError(f"module 'modules.ui' has no attribute {name!r}")
