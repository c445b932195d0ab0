"""A1111's ``modules.errors``: report an extension's exception in the log (never to the user as a traceback)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("extensions")


def report(message: str, *, exc_info: bool = False) -> None:
    log.error(message, exc_info=exc_info)


def display(e: BaseException, task: str, *, full_traceback: bool = False) -> None:
    log.error("%s: %s", task, e, exc_info=(type(e), e, e.__traceback__))


def display_once(e: BaseException, task: str) -> None:
    display(e, task)


def print_error_explanation(message: str) -> None:
    log.error(message)


def run(code: Callable[[], Any], task: str) -> None:
    try:
        code()
    except Exception as e:
        display(e, task)
