"""Shared fixtures: a real server in a subprocess, Chromium through Playwright, screenshots on failure."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 90.0, proc: subprocess.Popen | None = None) -> int:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except Exception as error:  # not up yet
            last_error = error
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer: {last_error}")


class RunningServer:
    """A ``webui.py`` subprocess with its own data folder; its log is kept for failure reports."""

    def __init__(self, data_dir: Path, args: list[str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        command = [
            sys.executable,
            str(ROOT / "webui.py"),
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            *(args or []),
        ]
        self._log = open(self.log_path, "w")  # noqa: SIM115 -- the server's log stays open for its lifetime
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_up(self, path: str = "/", timeout: float = 120.0) -> None:
        wait_http(self.url + path, timeout, self.proc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def start_server(tmp_path):
    """Factory: ``start_server(args, data_dir=None)`` returns a RunningServer that is up; all stopped at the end."""
    servers: list[RunningServer] = []

    def start(args: list[str] | None = None, data_dir: Path | None = None, wait_path: str = "/") -> RunningServer:
        directory = data_dir or tmp_path / f"data{len(servers)}"
        directory.mkdir(parents=True, exist_ok=True)
        server = RunningServer(directory, args)
        servers.append(server)
        try:
            server.wait_up(wait_path)
        except Exception:
            print(server.log())
            raise
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_REPORT_KEY] = report


_REPORT_KEY = pytest.StashKey()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run the README's test command, which installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser page; a screenshot lands in tests/artifacts/ when the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    report = request.node.stash.get(_REPORT_KEY, None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
