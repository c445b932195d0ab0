"""Auth on every route: a table over every route of the running app (API, page, Gradio's own, extensions)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.test_api_helpers import basic, build


def _concrete(path: str) -> str:
    """A request path for a route pattern: ``/file={path:path}`` -> ``/file=x``."""
    return re.sub(r"\{[^}]+\}", "x", path) or "/"


def every_route(app) -> list[tuple[str, str]]:
    """(method, path) for each route of the app, the routes inside mounts (Gradio's) included."""
    from starlette.routing import Mount

    found: list[tuple[str, str]] = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
                continue
            included = getattr(route, "original_router", None)  # FastAPI's include_router (Gradio's /gradio_api)
            if included is not None:
                walk(included.routes, prefix + route.include_context.prefix)
                continue
            path = getattr(route, "path", None)
            if path is None:
                continue
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if method != "HEAD":
                    found.append((method, _concrete(prefix + path)))

    walk(app.router.routes, "")
    return sorted(set(found))


@pytest.fixture(scope="module")
def gradio_auth_app(tmp_path_factory):
    from modules.api.routes import add_api_route

    backend, app = build(tmp_path_factory.mktemp("auth"), "--gradio-auth", "u:p", ui=True)
    add_api_route(app, backend, "/myext/ping", lambda: {"pong": True}, ["GET"])

    @app.get("/late/extension")
    def late():
        return {"ok": True}

    with TestClient(app) as client:
        yield app, client


def _is_open(path: str) -> bool:
    from modules.api.auth import is_open_path

    return is_open_path(path, login_page=True)


def test_gradio_auth_alone_guards_every_route_but_the_login_page_and_assets(gradio_auth_app):
    app, client = gradio_auth_app
    routes = every_route(app)
    assert ("POST", "/sdapi/v1/txt2img") in routes and ("GET", "/myext/ping") in routes
    assert ("POST", "/gradio_api/cancel") in routes and any(p.startswith("/gradio_api/heartbeat") for _, p in routes)
    guarded = [(m, p) for m, p in routes if not _is_open(p)]
    assert len(guarded) > 60
    leaks = []
    for method, path in guarded:
        answer = client.request(method, path)
        if answer.status_code != 401:
            leaks.append((method, path, answer.status_code))
    assert leaks == []
    opened = [(m, p) for m, p in routes if _is_open(p)]
    assert {p for _, p in opened} <= {"/", "/login", "/login/", "/logout", "/config", "/config/", "/favicon.ico",
                                       "/theme.css", "/gradio_api/theme.css", "/robots.txt", "/manifest.json",
                                       "/gradio_api/login_check", "/gradio_api/user"} | {
        p for _, p in opened if p.startswith(("/assets/", "/static/", "/svelte/", "/gradio_api/static/", "/pwa_icon"))
    }  # fmt: skip


def test_gradio_auth_credentials_open_the_api_and_the_page(gradio_auth_app):
    app, client = gradio_auth_app
    assert client.post("/sdapi/v1/txt2img", json={"prompt": "a"}).status_code == 401
    assert client.get("/sdapi/v1/samplers", headers=basic("u", "wrong")).status_code == 401
    assert client.get("/sdapi/v1/samplers", headers=basic("u", "p")).status_code == 200
    assert client.get("/myext/ping", headers=basic("u", "p")).json() == {"pong": True}
    assert client.get("/webui/status").status_code == 401
    assert client.get("/webui/status", headers=basic("u", "p")).status_code == 200
    # Gradio's login form: its cookie opens the page's backend and the API
    login = client.post("/login", data={"username": "u", "password": "p"})
    assert login.status_code == 200, login.text
    try:
        assert client.get("/webui/status").status_code == 200
        assert client.get("/sdapi/v1/samplers").status_code == 200
        assert client.get("/gradio_api/info").status_code == 200
    finally:
        client.cookies.clear()
    assert client.get("/webui/status").status_code == 401


def test_api_auth_gives_the_api_its_own_credentials(tmp_path):
    backend, app = build(tmp_path, "--gradio-auth", "u:p", "--api-auth", "api:key", ui=True)
    with TestClient(app) as client:
        assert client.get("/sdapi/v1/samplers", headers=basic("u", "p")).status_code == 401
        assert client.get("/sdapi/v1/samplers", headers=basic("api", "key")).status_code == 200
        assert client.get("/webui/status", headers=basic("api", "key")).status_code == 401
        assert client.get("/webui/status", headers=basic("u", "p")).status_code == 200


def test_api_auth_alone_guards_the_page_backend_too(tmp_path):
    backend, app = build(tmp_path, "--api-auth", "api:key", ui=True)
    with TestClient(app) as client:
        for method, path in every_route(app):
            if _is_open(path) and path not in ("/", "/login", "/login/", "/config", "/config/"):
                continue
            answer = client.request(method, path)
            assert answer.status_code == 401, (method, path)
            assert answer.headers["www-authenticate"].startswith("Basic")  # the browser asks for the login
        assert client.get("/", headers=basic("api", "key")).status_code == 200
        assert client.get("/gradio_api/info", headers=basic("api", "key")).status_code == 200
        assert client.get("/assets/nothing.js").status_code != 401
