"""Pure parts of the untrusted-file defences: printable names and messages, bounded folder scans, header limits."""

from __future__ import annotations

import os
import struct
import threading
import time

import pytest
import torch  # noqa: F401  (imported here so the timings below measure the readers, not the import)

from modules.models.errors import ModelLoadError
from modules.models.folder_scan import scan_files
from modules.models.safe_text import plain_sentence, printable_name, printable_tree
from modules.models.statedict import open_state_dict


def test_names_that_are_not_utf8_become_replacement_characters():
    name = os.fsdecode(b"caf\xe9/\xff.safetensors")
    assert printable_name(name) == "caf\ufffd/\ufffd.safetensors"
    assert printable_name("ok_名前.ckpt") == "ok_名前.ckpt"
    tree = printable_tree({"a": [name, 1, None], name: {"x": name}})
    assert tree == {"a": ["caf\ufffd/\ufffd.safetensors", 1, None], "caf\ufffd/\ufffd.safetensors": {"x": tree["a"][0]}}


def test_library_messages_become_one_plain_line():
    text = "\x1b[31m\x1b[1mWeights only load failed.\x1b[0m\n\nTraceback (most recent call last):\n  File x"
    assert plain_sentence(text) == "Weights only load failed."
    assert plain_sentence("\n\n  second\x07 line\n") == "second line"
    assert len(plain_sentence("x" * 5000)) == 300
    error = ModelLoadError(os.fsdecode(b"/m/\xe9.ckpt"), "\x1b[33mbad\x1b[0m\nmore")
    assert str(error) == "/m/\ufffd.ckpt: bad"


def test_a_symlink_loop_is_walked_once_and_reported(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.safetensors").write_bytes(b"1")
    os.symlink("../..", tmp_path / "a" / "b" / "up")
    os.symlink(".", tmp_path / "self")
    (tmp_path / "dir.safetensors").mkdir()
    os.symlink("missing.safetensors", tmp_path / "dangling.safetensors")
    started = time.monotonic()
    result = scan_files(tmp_path, (".safetensors",))
    assert time.monotonic() - started < 2
    assert result.files == [tmp_path / "a" / "b" / "x.safetensors"]
    assert sum("symlink loop" in problem for problem in result.problems) == 2, result.problems


def test_a_huge_tree_is_cut_off_by_the_entry_and_time_limits(tmp_path):
    for index in range(50):
        (tmp_path / f"m{index:02}.pt").write_bytes(b"1")
    result = scan_files(tmp_path, (".pt",), max_entries=10)
    assert len(result.files) == 10 and "stopped" in result.problems[-1]
    result = scan_files(tmp_path, (".pt",), time_limit=0.0)
    assert result.files == [] and "stopped" in result.problems[-1]


def _write_header(path, header: bytes, claimed: int | None = None) -> None:
    path.write_bytes(struct.pack("<Q", len(header) if claimed is None else claimed) + header)


@pytest.mark.parametrize(
    ("header", "claimed", "expected"),
    [
        (b"{}", 8 * 1024**3, "header of 8589934592 bytes"),
        (b'{"m":' + b"[" * 300_000 + b"]" * 300_000 + b"}", None, "nested absurdly deep"),
        (b'{"__metadata__": [1, 2]}', None, "invalid __metadata__"),
        (b'{"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', None, "truncated"),
        (b'{"t": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 0]}}', None, "inconsistent size"),
        (b'{"t": "x"}', None, "invalid entry"),
        (b"\xff\xfe", None, "not JSON"),
    ],
)
def test_malformed_safetensors_headers_are_refused_quickly(tmp_path, header, claimed, expected):
    path = tmp_path / "bad.safetensors"
    _write_header(path, header, claimed)
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match=expected) as caught:
        open_state_dict(path)
    assert time.monotonic() - started < 2
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_refreshing_model_lists_does_not_wait_for_a_running_generation(tmp_path):
    from fastapi.testclient import TestClient

    from tests.test_api_helpers import build

    backend, app = build(tmp_path / "data", "--no-hashing")
    backend.start_background_init(load_model=False)
    assert backend.wait_ready(120)
    release = threading.Event()
    job = backend.jobs.submit(lambda job: release.wait(30), label="a long generation")
    try:
        with TestClient(app) as client:
            started = time.monotonic()
            for route in ("refresh-checkpoints", "refresh-vae", "refresh-loras", "refresh-embeddings"):
                assert client.post(f"/sdapi/v1/{route}").status_code == 200
            assert time.monotonic() - started < 10 and not job.done
    finally:
        release.set()
        job.wait(30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[1, 2]", "not a JSON object"), ("[" * 100_000, "not a readable JSON"), (" " * (1024 * 1024 + 1), "larger")],
)
def test_a_bad_controlnet_config_sidecar_is_refused_with_its_name(tmp_path, text, expected):
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "extensions-builtin" / "sd-webui-controlnet"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    from controlnet_ext.convert import NotAControlNet, _read_config_sidecar

    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(NotAControlNet, match=expected) as caught:
        _read_config_sidecar(path)
    assert str(path) in str(caught.value)


def test_error_answers_naming_files_that_are_not_utf8_can_be_sent(tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from modules.api.errors import ApiError, install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    name = os.fsdecode(b"caf\xe9.pth")

    @app.get("/known")
    def known():
        raise ApiError(422, f"upscaler {name} not found")

    @app.get("/model")
    def model():
        raise ModelLoadError(tmp_path / name, "is truncated")

    with TestClient(app) as client:
        for path in ("/known", "/model"):
            answer = client.get(path)
            assert answer.status_code == 422 and "caf\ufffd.pth" in answer.json()["detail"], answer.text


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5_000,  # nesting bomb (deeper than the recursion limit)
        "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b]\n",
        "model: {params: {unet_config: {params: {num_heads: [}}}}",  # broken
        "#" * (1024 * 1024 + 10),  # over the size cap
    ],
)
def test_a_hostile_yaml_sidecar_is_ignored_quickly(tmp_path, text):
    from modules.models.loader import read_yaml_config

    checkpoint = tmp_path / "model.safetensors"
    checkpoint.with_suffix(".yaml").write_text(text)
    started = time.monotonic()
    config = read_yaml_config(checkpoint)
    assert time.monotonic() - started < 5
    assert config == {} or set(config) == {"a", "b", "c"}  # aliases stay shared references, not copies
