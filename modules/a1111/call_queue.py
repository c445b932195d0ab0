"""A1111's ``modules.call_queue``: wrappers extensions put around their Gradio handlers.

A1111 serialises GPU work with a lock here; in this program every generation goes through the job queue, so
the wrappers only keep a handler's exception from reaching the user as a traceback.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
queue_lock = threading.Lock()


def wrap_queued_call(func: Callable[..., Any]) -> Callable[..., Any]:
    return func


def wrap_gradio_call(
    func: Callable[..., Any], extra_outputs: Any = None, add_stats: bool = False
) -> Callable[..., Any]:  # noqa: E501
    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as error:
            log.exception("Error in %s", getattr(func, "__name__", func))
            message = f"<div class='error'>{html.escape(type(error).__name__)}: {html.escape(str(error))}</div>"
            outputs = list(extra_outputs or [None, ""])
            return (*outputs, message)

    return wrapped


def wrap_gradio_gpu_call(func: Callable[..., Any], extra_outputs: Any = None) -> Callable[..., Any]:
    return wrap_gradio_call(func, extra_outputs=extra_outputs)


def wrap_gradio_call_no_job(
    func: Callable[..., Any], extra_outputs: Any = None, add_stats: bool = False
) -> Callable[..., Any]:  # noqa: E501
    return wrap_gradio_call(func, extra_outputs=extra_outputs)
