"""Image grids: the batch overview grid and labelled grids for X/Y/Z plots and prompt matrices (A1111 layout).

Text uses the font named by the ``font`` setting when it can be opened, else Pillow's built-in scalable font,
so nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence

from PIL import Image, ImageColor, ImageDraw, ImageFont

log = logging.getLogger(__name__)


def grid_rows(count: int, batch_size: int = 1, n_rows: int = -1, prevent_empty_spots: bool = False) -> int:
    """Rows for a grid of ``count`` images: the ``n_rows`` setting, 0 = batch size, -1 = about square.

    >>> grid_rows(4), grid_rows(6), grid_rows(6, prevent_empty_spots=True), grid_rows(5, n_rows=0, batch_size=5)
    (2, 2, 2, 5)
    """
    if n_rows > 0:
        rows = n_rows
    elif n_rows == 0:
        rows = batch_size
    elif prevent_empty_spots:
        rows = max(1, math.floor(math.sqrt(count)))
        while count % rows != 0:
            rows -= 1
    else:
        rows = round(math.sqrt(count))
    return max(1, min(rows, count))


def image_grid(
    images: Sequence[Image.Image],
    batch_size: int = 1,
    rows: int | None = None,
    n_rows: int = -1,
    prevent_empty_spots: bool = False,
) -> Image.Image:
    """Paste ``images`` (all the size of the first) row by row onto a black canvas."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    if rows is None or rows <= 0:  # rows=-1 / 0 are read like the n_rows setting (auto / batch size)
        rows = grid_rows(len(images), batch_size, n_rows if rows is None else rows, prevent_empty_spots)
    rows = min(rows, len(images))
    cols = math.ceil(len(images) / rows)
    width, height = images[0].size
    grid = Image.new("RGB", (cols * width, rows * height), color="black")
    for index, image in enumerate(images):
        grid.paste(image, box=(index % cols * width, index // cols * height))
    return grid


@dataclasses.dataclass
class GridAnnotation:
    """One line of a grid label; inactive lines are drawn greyed and struck through (prompt matrix)."""

    text: str = ""
    is_active: bool = True
    size: tuple[int, int] = (0, 0)
    allowed_width: int = 0


def load_font(size: int, font_path: str = "") -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if font_path:
        try:
            return ImageFont.truetype(font_path, size)
        except OSError as error:
            log.warning("Grid font %s could not be loaded (%s); using the built-in font", font_path, error)
    return ImageFont.load_default(size=max(1, size))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    lines = [""]
    for word in text.split():
        candidate = f"{lines[-1]} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def draw_grid_annotations(
    grid: Image.Image,
    width: int,
    height: int,
    hor_texts: Sequence[Sequence[GridAnnotation]],
    ver_texts: Sequence[Sequence[GridAnnotation]],
    margin: int = 0,
    *,
    font_path: str = "",
    text_color: str = "#000000",
    inactive_color: str = "#999999",
    background_color: str = "#ffffff",
) -> Image.Image:
    """Add column titles above and row titles left of a grid of ``width`` x ``height`` cells."""
    active = ImageColor.getcolor(text_color, "RGB")
    inactive = ImageColor.getcolor(inactive_color, "RGB")
    background = ImageColor.getcolor(background_color, "RGB")
    cols, rows = grid.width // width, grid.height // height
    if cols != len(hor_texts) or rows != len(ver_texts):
        raise ValueError(f"Grid of {cols}x{rows} cells needs {cols} column and {rows} row labels, "
                         f"got {len(hor_texts)} and {len(ver_texts)}")  # fmt: skip

    font_size = (width + height) // 25
    line_spacing = font_size // 2
    font = load_font(font_size, font_path)
    has_row_labels = any(line.text for lines in ver_texts for line in lines)
    pad_left = width * 3 // 4 if has_row_labels else 0
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1), background))

    def layout(groups: Sequence[Sequence[GridAnnotation]], allowed: int) -> list[list[GridAnnotation]]:
        result = []
        for group in groups:
            wrapped = [
                GridAnnotation(text, line.is_active)
                for line in group
                for text in _wrap(measure, line.text, font, allowed)
            ]
            for line in wrapped:
                box = measure.multiline_textbbox((0, 0), line.text, font=font)
                line.size, line.allowed_width = (box[2] - box[0], box[3] - box[1]), allowed
            result.append(wrapped)
        return result

    columns, row_labels = layout(hor_texts, width), layout(ver_texts, pad_left)
    column_heights = [sum(line.size[1] + line_spacing for line in lines) - line_spacing for lines in columns]
    row_heights = [
        sum(line.size[1] + line_spacing for line in lines) - line_spacing * len(lines) for lines in row_labels
    ]
    pad_top = max(column_heights) + line_spacing * 2 if sum(column_heights) > 0 else 0

    result = Image.new(
        "RGB", (grid.width + pad_left + margin * (cols - 1), grid.height + pad_top + margin * (rows - 1)), background
    )
    for row in range(rows):
        for col in range(cols):
            cell = grid.crop((width * col, height * row, width * (col + 1), height * (row + 1)))
            result.paste(cell, (pad_left + (width + margin) * col, pad_top + (height + margin) * row))
    draw = ImageDraw.Draw(result)

    def draw_lines(x: float, y: float, lines: list[GridAnnotation]) -> None:
        for line in lines:
            size, line_font = font_size, font
            while size > 1 and draw.multiline_textbbox((0, 0), line.text, font=line_font)[2] > line.allowed_width:
                size -= 1
                line_font = load_font(size, font_path)
            color = active if line.is_active else inactive
            draw.multiline_text(
                (x, y + line.size[1] / 2), line.text, font=line_font, fill=color, anchor="mm", align="center"
            )
            if not line.is_active:
                middle = y + line.size[1] // 2
                draw.line((x - line.size[0] // 2, middle, x + line.size[0] // 2, middle), fill=inactive, width=4)
            y += line.size[1] + line_spacing

    for col in range(cols):
        draw_lines(pad_left + (width + margin) * col + width / 2, pad_top / 2 - column_heights[col] / 2, columns[col])
    for row in range(rows):
        top = pad_top + (height + margin) * row + height / 2 - row_heights[row] / 2
        draw_lines(pad_left / 2, top, row_labels[row])
    return result


def draw_prompt_matrix(
    grid: Image.Image, width: int, height: int, all_prompts: Sequence[str], margin: int = 0, **style: str
) -> Image.Image:
    """Label a prompt-matrix grid: each column/row shows which optional prompt parts are on."""
    parts = list(all_prompts[1:])
    boundary = math.ceil(len(parts) / 2)
    horizontal, vertical = parts[:boundary], parts[boundary:]

    def labels(texts: list[str]) -> list[list[GridAnnotation]]:
        combinations = range(1 << len(texts))
        return [[GridAnnotation(text, pos & (1 << i) != 0) for i, text in enumerate(texts)] for pos in combinations]

    return draw_grid_annotations(grid, width, height, labels(horizontal), labels(vertical), margin, **style)
