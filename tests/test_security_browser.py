"""In Chromium: the page logs in through Gradio's form under --gradio-auth, and an idle page is quiet."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest


def test_login_then_an_idle_page_sends_at_most_one_request_per_10_seconds(start_server, page):
    server = start_server(["--gradio-auth", "u:p", "--api"])

    with pytest.raises(urllib.error.HTTPError) as refused:  # the API needs the login too
        urllib.request.urlopen(urllib.request.Request(server.url + "/sdapi/v1/txt2img", data=b"{}"), timeout=10)
    assert refused.value.code == 401

    page.goto(server.url)
    page.locator("input[type=password]").wait_for()
    page.locator("input[type=text], input[name=username]").first.fill("u")
    page.locator("input[type=password]").fill("p")
    page.keyboard.press("Enter")
    page.locator("#txt2img_prompt").wait_for()
    page.wait_for_function(
        "(() => { const s = document.querySelector('#model_status'); "
        "return s && s.innerText.trim() && !s.innerText.includes('Starting'); })()",
        timeout=120_000,
    )
    page.wait_for_timeout(3000)  # let the last fast status poll see that nothing is running

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.wait_for_timeout(20_000)  # (Playwright delivers request events only while it is called)
    assert len(requests) <= 2, requests  # 20 s idle: at most one request per 10 s
    assert any(url.endswith("/webui/status") for url in requests)  # the status is still followed, slowly

    # a click may start something: the page asks at once, then every second while the server is busy
    requests.clear()
    page.locator("#txt2img_generate").click()
    page.locator("#txt2img_message").get_by_text("No checkpoints found").wait_for()
    page.wait_for_timeout(2000)
    assert any(url.endswith("/webui/status") for url in requests)
