"""Item-6 pieces without a browser: sysinfo report and its redaction, offline messages for extension
downloads, config-state backups with the real extension manager, zip names, Defaults changes, and the
progress text naming the batch once."""

from __future__ import annotations

import datetime
import json
import socket
import threading
import types

import pytest

from modules.extensions.config_states import list_states, restore_plan, save_state
from modules.extensions.index import load_index
from modules.extensions.network_errors import download_failure, meaningful_line
from modules.jobs.queue import JobQueue
from modules.sysinfo import REDACTED, gather, redact_commandline, redact_settings
from modules.ui.runner import progress_html
from modules.ui.settings_pages import defaults_changes
from modules.ui.zip_output import zip_name
from tests.helpers import make_backend


def test_git_clone_offline_message_names_the_cause():
    stderr = (
        "\n  stderr: 'Cloning into 'x'...\n"
        "fatal: unable to access 'https://github.com/a/b/': Could not resolve host: github.com\n'"
    )
    assert meaningful_line(stderr).startswith("fatal: unable to access")
    text = download_failure("git clone", "https://github.com/a/b", stderr)
    assert text.startswith("git clone failed: fatal: unable to access")
    assert "seems to be offline or cannot reach github.com" in text
    other = download_failure("git clone", "https://github.com/a/b", "fatal: repository not found\n'")
    assert other == "git clone failed: fatal: repository not found"


def test_extension_index_unreachable_is_a_clear_offline_message():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ValueError) as caught:
        load_index(f"http://127.0.0.1:{port}/index.json", timeout=5)
    assert "Loading the extension index failed" in str(caught.value)
    assert "seems to be offline" in str(caught.value)


def test_redaction_hides_credentials():
    assert redact_settings({"api_auth": "u:p", "sd_model_checkpoint": "x"}) == {
        "api_auth": REDACTED,
        "sd_model_checkpoint": "x",
    }
    assert redact_commandline(["webui.py", "--gradio-auth", "u:p", "--api-auth=a:b", "--port", "1"]) == [
        "webui.py",
        "--gradio-auth",
        REDACTED,
        f"--api-auth={REDACTED}",
        "--port",
        "1",
    ]


def test_zip_name_follows_a1111_default_pattern():
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert zip_name(when, "tiny/a", [12, 13]) == "20240102030405_[tiny_a]_12-13.zip"
    assert zip_name(when, None, []) == "20240102030405.zip"


def test_defaults_changes_lists_only_differences():
    stored = {"txt2img/Sampling steps/value": 20, "txt2img/Width/value": 512}
    current = {"txt2img/Sampling steps/value": 30, "txt2img/Width/value": 512, "img2img/Seed/value": -1}
    assert defaults_changes(stored, current) == {
        "txt2img/Sampling steps/value": (20, 30),
        "img2img/Seed/value": (None, -1),
    }


def test_progress_names_the_batch_once():
    queue = JobQueue()
    release = threading.Event()

    def task(job):
        job.update(job_no=0, job_count=2, sampling_step=1, sampling_steps=4, textinfo="Batch 1/2")
        release.wait(10)

    job = queue.submit(task, "two batches")
    try:
        for _ in range(100):
            if job.progress().textinfo:
                break
            threading.Event().wait(0.05)
        text = progress_html(types.SimpleNamespace(jobs=queue), job)
    finally:
        release.set()
        job.wait()
    assert text.count("Batch 1/2") == 1 and "Step 1/4" in text


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    data = tmp_path_factory.mktemp("pages")
    (data / "extensions" / "my-ext").mkdir(parents=True)
    (data / "extensions" / "my-ext" / "README.md").write_text("x", encoding="utf-8")
    return make_backend(data, ["--api-auth", "user:secret"], load_model=False)


def test_sysinfo_has_a1111_keys_and_no_secrets(backend):
    report = gather(backend)
    for key in ("Platform", "Python", "Version", "Commandline", "Torch env info", "Extensions", "Config", "Packages"):
        assert key in report
    assert any(entry["name"] == "my-ext" for entry in report["Extensions"])
    assert any(package.startswith("torch==") for package in report["Packages"])
    assert "secret" not in json.dumps(report, default=str)
    assert len(report["Checksum"]) == 64


def test_config_state_backup_and_restore_plan(backend):
    manager = backend.extensions
    path = save_state(manager, backend.paths.data, "before update")
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["name"] == "before update" and saved["extensions"]["my-ext"]["enabled"] is True
    assert list(list_states(backend.paths.data).values()) == [path]
    saved["extensions"]["my-ext"]["enabled"] = False
    saved["extensions"]["gone-ext"] = {"enabled": True}
    enabled, notes = restore_plan(saved, manager)
    assert "my-ext" not in enabled
    assert notes == ["gone-ext is not installed"]
