"""A1111's ``modules.ui_components``: layout helpers and small components, as current Gradio components.

Each class is a "template" of a Gradio component (``is_template``), so the page renders it with the
component it is based on: ``ToolButton`` is a small ``gr.Button`` with the ``tool`` class, ``FormRow`` a
``gr.Row``, ``DropdownMulti`` a multi-select ``gr.Dropdown``. ``InputAccordion`` is a checkbox whose value is
the argument, followed by an accordion that holds what the ``with`` block creates.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

class FormComponent:
    def get_expected_parent(self) -> Any:
        return gr.components.Form

from gradio.events import Dependency

class ToolButton(gr.Button):
    is_template = True

    def __init__(self, value: str = "", *args: Any, **kwargs: Any) -> None:
        classes = list(kwargs.pop("elem_classes", None) or []) + ["tool"]
        kwargs.pop("variant", None)  # Gradio 3's variant="tool"
        kwargs.setdefault("size", "sm")
        kwargs.setdefault("min_width", 40)
        kwargs.setdefault("scale", 0)
        super().__init__(value, *args, elem_classes=classes, **kwargs)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class ResizeHandleRow(gr.Row):
    is_template = True
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class FormRow(gr.Row):
    is_template = True
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class FormColumn(gr.Column):
    is_template = True
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class FormGroup(gr.Group):
    is_template = True
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class FormHTML(gr.HTML):
    is_template = True
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class FormColorPicker(gr.ColorPicker):
    is_template = True
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class DropdownMulti(gr.Dropdown):
    is_template = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(multiselect=True, **kwargs)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class DropdownEditable(gr.Dropdown):
    is_template = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_custom_value=True, **kwargs)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class InputAccordion(gr.Checkbox):
    """A checkbox (the value scripts receive) and, under it, an accordion for the ``with`` block's content."""

    is_template = True
    global_index = 0

    def __init__(self, value: bool, **kwargs: Any) -> None:
        self.accordion_id = kwargs.get("elem_id") or f"input-accordion-{InputAccordion.global_index}"
        InputAccordion.global_index += 1
        self.accordion_label = kwargs.get("label", "Accordion")
        self.accordion_open = kwargs.pop("open", False)
        kwargs.setdefault("elem_id", f"{self.accordion_id}-checkbox")
        kwargs.pop("visible", None)
        super().__init__(value=value, **kwargs)
        self._accordion: gr.Accordion | None = None

    def extra(self) -> gr.Column:
        """A1111: a column in the accordion's title row; here a column inside the accordion."""
        return gr.Column(elem_id=f"{self.accordion_id}-extra", min_width=0)

    def __enter__(self) -> InputAccordion:
        self._accordion = gr.Accordion(self.accordion_label, open=self.accordion_open, elem_id=self.accordion_id)
        self._accordion.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._accordion is not None:
            self._accordion.__exit__(*exc)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component
