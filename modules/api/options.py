"""Settings of the API section that the HTTP API reads (A1111 shared_options names and defaults).

``api_enable_requests`` is declared with the core options; these two complete A1111's API section.
"""

from __future__ import annotations

from modules.settings.registry import OptionInfo
from modules.settings.sections import API

OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo(
        "api_forbid_local_requests",
        True,
        "Forbid URLs to local resources",
        API,
        "checkbox",
        restrict_api=True,
        info="image URLs must resolve to public addresses",
    ),
    OptionInfo("api_useragent", "", "User agent for requests", API, "textbox", restrict_api=True),
)
