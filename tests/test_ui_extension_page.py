"""What an A1111 extension's JavaScript meets on the page: globals, life cycle, element ids, ``/file=``.

One server with a small extension written the way A1111 extensions are (listeners on DOMContentLoaded,
``onUiLoaded`` looking for ``#img2img_prompt > label > textarea``, ``opts``, ``updateInput``); the browser
records what the extension saw. ``/file=`` is checked over HTTP on the same server, traversal and symlink
escapes included.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from tests.conftest import RunningServer

EXTENSION_JS = r"""
window.seen = {early: typeof gradioApp + typeof onUiLoaded + typeof onUiUpdate + typeof onAfterUiUpdate
    + typeof onOptionsChanged + typeof onUiTabChange + typeof updateInput + typeof submit + typeof popup
    + typeof get_uiCurrentTabContent + typeof titles + typeof opts, events: []};
document.addEventListener("DOMContentLoaded", () => window.seen.events.push("DOMContentLoaded"));
onUiLoaded(() => {
    window.seen.events.push("uiLoaded");
    window.seen.txt2imgPrompt = !!gradioApp().querySelector("#txt2img_prompt > label > textarea");
    window.seen.img2imgPrompt = !!gradioApp().querySelector("#img2img_prompt > label > textarea");
    window.seen.negPrompt = !!gradioApp().querySelector("#txt2img_neg_prompt > label > textarea");
    window.seen.generate = !!gradioApp().getElementById("txt2img_generate");
    window.seen.currentTab = get_uiCurrentTabContent().id;
    window.seen.samplesFormat = opts.samples_format;
    const box = gradioApp().querySelector("#txt2img_prompt > label > textarea");
    box.value = "typed by an extension";
    updateInput(box);
});
onOptionsChanged(() => window.seen.events.push("optionsChanged"));
onUiTabChange(() => window.seen.events.push("tab:" + get_uiCurrentTabContent()?.id));
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("page_data")
    extension = data / "extensions" / "page-probe"
    (extension / "javascript").mkdir(parents=True)
    (extension / "javascript" / "probe.js").write_text(EXTENSION_JS, encoding="utf-8")
    (extension / "data.txt").write_text("extension data", encoding="utf-8")
    (data / "outputs").mkdir()
    (data / "outputs" / "image.txt").write_text("an output", encoding="utf-8")
    (data / "secret.txt").write_text("not for the page", encoding="utf-8")
    (data / "config.json").write_text(json.dumps({"samples_format": "jpg"}), encoding="utf-8")
    os.symlink(data / "secret.txt", extension / "escape.txt")
    os.symlink(data / "outputs", extension / "outputs-link")
    running = RunningServer(data)
    try:
        running.wait_up()
        yield running
    finally:
        running.stop()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_extension_script_meets_a1111_page(server, page):
    page.goto(server.url)
    page.wait_for_function("window.seen && window.seen.events.includes('uiLoaded')")
    page.wait_for_function("window.seen.events.includes('optionsChanged')")
    seen = page.evaluate("window.seen")
    assert seen["early"] == "function" * 10 + "object" * 2
    assert seen["events"][:2] == ["DOMContentLoaded", "uiLoaded"]
    assert seen["txt2imgPrompt"] and seen["negPrompt"] and seen["generate"]
    assert seen["img2imgPrompt"], "the img2img tab's elements exist at load"
    assert seen["currentTab"] == "tab_txt2img"
    assert seen["samplesFormat"] == "jpg"
    # updateInput reached Gradio: the value survives a tab round trip (Gradio re-renders from its state)
    page.locator("#tab_img2img-button").click()
    page.wait_for_function("window.seen.events.includes('tab:tab_img2img')")
    page.locator("#tab_txt2img-button").click()
    assert page.locator("#txt2img_prompt textarea").input_value() == "typed by an extension"


def test_file_route_serves_extensions_and_outputs_only(server):
    base = server.url + "/file="
    extension = server.data_dir / "extensions" / "page-probe"
    assert http_get(base + "extensions/page-probe/data.txt") == (200, "extension data")
    assert http_get(base + str(extension / "data.txt")) == (200, "extension data")
    assert http_get(base + str(server.data_dir / "outputs" / "image.txt")) == (200, "an output")
    assert http_get(base + "extensions/page-probe/outputs-link/image.txt") == (200, "an output")
    for refused in [
        str(server.data_dir / "secret.txt"),
        "extensions/page-probe/escape.txt",  # a symlink out of the extension
        "extensions/page-probe/%2e%2e/%2e%2e/secret.txt",
        "extensions/page-probe/..%2f..%2fsecret.txt",
        "/etc/passwd",
        "config.json",
        "webui.py",
    ]:
        assert http_get(base + refused)[0] == 404, refused
