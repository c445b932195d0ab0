"""Follows a queued job from a Gradio generator handler: position, progress bar with ETA, live preview, result.

The handler submits the job and then only waits on the job handle (``wait_for_change``); the worker thread
of the job queue does the work. This browser tab's job id lives in a ``gr.State``, so Interrupt and Skip act
on this tab's job and never on another user's.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from modules.jobs.queue import Job, JobInterrupted
from modules.ui.common import describe_error, error_html, format_seconds, info_html

if TYPE_CHECKING:
    from modules.app import Backend

log = logging.getLogger(__name__)

WAIT_SLICE = 0.5  # seconds between refreshes while nothing changes (queue position, ETA)
MIN_REFRESH = 0.2  # seconds between two progress updates sent to the browser


@dataclasses.dataclass
class RunButtons:
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button


def progress_html(backend: Backend, job: Job, prefix: str = "") -> str:
    """The progress bar: ``Waiting… position 2 in queue`` or ``45% ETA: 3s`` with step and batch."""
    if not job.started:
        position = backend.jobs.position(job)
        text = f"Waiting… position {position} in queue" if position else "Waiting…"
        text = html.escape(prefix + text)
        return f'<div class="progress-bar waiting"><span class="progress-text">{text}</span></div>'
    progress = job.progress()
    percent = progress.fraction * 100
    eta = job.eta()
    text = f"{percent:.0f}%" + (f" ETA: {format_seconds(eta)}" if eta is not None and percent > 0 else "")
    details = []
    if progress.textinfo:
        details.append(progress.textinfo)
    if progress.job_count > 1 and not progress.textinfo.startswith("Batch "):  # the job may say it already
        details.append(f"Batch {progress.job_no + 1}/{progress.job_count}")
    if progress.sampling_steps:
        details.append(f"Step {progress.sampling_step}/{progress.sampling_steps}")
    detail = html.escape(prefix + " · ".join(details))
    return (
        f'<div class="progress-bar"><div class="progress-fill" style="width:{percent:.1f}%"></div>'
        f'<span class="progress-text">{html.escape(text)}</span>'
        f'<span class="progress-detail">{detail}</span></div>'
    )


def follow(backend: Backend, job: Job, progress_box: Any, preview: Any, prefix: str = "") -> Iterator[dict[Any, Any]]:
    """Yield progress/preview updates until ``job`` ends (or is interrupted while still waiting)."""
    show_preview = bool(backend.settings.get("live_previews_enable"))
    period = max(MIN_REFRESH, float(backend.settings.get("live_preview_refresh_period")) / 1000.0)
    version = 0
    last_sent = 0.0
    last_preview_sent = 0.0
    preview_id = 0
    while not job.done:
        version = job.wait_for_change(version, timeout=WAIT_SLICE)
        if job.done or (job.interrupted and not job.started):
            return
        now = time.monotonic()
        if now - last_sent < MIN_REFRESH:
            continue
        last_sent = now
        updates: dict[Any, Any] = {progress_box: progress_html(backend, job, prefix)}
        progress = job.progress()
        if (
            show_preview
            and progress.preview is not None
            and progress.preview_id != preview_id
            and now - last_preview_sent >= period
        ):
            preview_id = progress.preview_id
            last_preview_sent = now
            updates[preview] = gr.update(value=progress.preview, visible=True)
        yield updates


def outcome_message(job: Job) -> str | None:
    """HTML for a job that ended without a result (interrupted, invalid, failed), else None."""
    if job.interrupted and not job.done:
        return info_html("Interrupted.")
    error = job.error
    if error is None:
        return None
    if isinstance(error, JobInterrupted):
        return info_html("Interrupted.")
    from modules.processing.params import InvalidParams

    if isinstance(error, (InvalidParams, ValueError, FileNotFoundError)):
        return error_html(describe_error(error))
    log.error("Job %s (%s) failed: %s", job.id, job.label, describe_error(error), exc_info=error)
    return error_html(f"Error: {describe_error(error)}")


def running_updates(buttons: RunButtons, running: bool) -> dict[Any, Any]:
    return {
        buttons.generate: gr.update(visible=not running),
        buttons.interrupt: gr.update(visible=running, value="Interrupt", interactive=True),
        buttons.skip: gr.update(visible=running),
    }


def wire_interrupt(backend: Backend, buttons: RunButtons, job_id: gr.State) -> None:
    """Interrupt and Skip act on the job whose id this browser tab holds."""

    def interrupt(current: str | None):
        job = backend.jobs.get(current) if current else None
        if job is not None and not job.done:
            job.interrupt()
            return gr.update(value="Interrupting...", interactive=False)
        return gr.update()

    def skip(current: str | None):
        job = backend.jobs.get(current) if current else None
        if job is not None and not job.done:
            job.skip()

    buttons.interrupt.click(interrupt, job_id, buttons.interrupt, show_progress="hidden", concurrency_limit=None)
    buttons.skip.click(skip, job_id, None, show_progress="hidden", concurrency_limit=None)


def run(
    backend: Backend,
    buttons: RunButtons,
    job_id: gr.State,
    progress_box: Any,
    preview: Any,
    message: Any,
    submit: Callable[[], Job],
    finish: Callable[[Any, float], dict[Any, Any]],
) -> Iterator[dict[Any, Any]]:
    """The body of a Generate handler: submit, follow, then ``finish(result, seconds)`` or show the error."""
    started = time.perf_counter()
    try:
        job = submit()
    except ValueError as error:  # InvalidParams and bad widget values
        yield {message: error_html(describe_error(error))}
        return
    yield {
        job_id: job.id,
        message: "",
        progress_box: progress_html(backend, job),
        **running_updates(buttons, True),
        preview: gr.update(visible=False, value=None),
    }
    yield from follow(backend, job, progress_box, preview)
    final: dict[Any, Any] = {
        progress_box: "",
        preview: gr.update(visible=False, value=None),
        job_id: None,
        **running_updates(buttons, False),
    }
    problem = outcome_message(job)
    if problem is not None:
        final[message] = problem
    else:
        final.update(finish(job.result, time.perf_counter() - started))
    yield final
