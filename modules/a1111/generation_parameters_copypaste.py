"""A1111's older name for ``modules.infotext_utils`` (extensions import either)."""

from modules.a1111.infotext_utils import *  # noqa: F403
from modules.a1111.infotext_utils import (  # noqa: F401
    ParamBinding,
    bind_buttons,
    create_buttons,
    image_from_url_text,
    parse_generation_parameters,
    register_paste_params_button,
)
