"""Schema fuzzing of our own /openapi.json with Schemathesis: no request may produce a server error (5xx).

Bounded to stay fast on a 2-core machine: a few examples per operation and a wall-clock budget. Generation
requests really run, so their size fields are pinned to one 64x64 step (lax parsing turns many "invalid"
values into valid ones, e.g. ``send_images: 0.0``); every other field is fuzzed.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.checkpoint_factory import write_checkpoint
from tests.test_api_helpers import build

HEAVY = {"/sdapi/v1/txt2img", "/sdapi/v1/img2img"}
CHEAP = {"steps": 1, "width": 64, "height": 64, "batch_size": 1, "n_iter": 1, "enable_hr": False}
EXAMPLES_PER_OPERATION = 12
BUDGET_SECONDS = 45


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("api-fuzz")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    write_checkpoint("sd15_tiny", folder / "tiny.safetensors")
    backend, app = build(data)
    backend.start_background_init()
    assert backend.wait_ready(120)
    backend.jobs.run(lambda job: None)  # returns once the start-up checkpoint load (queued first) is done
    with TestClient(app):  # runs start-up; Schemathesis calls the app in-process
        yield app


def test_schema_fuzz_finds_no_server_error(app):
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    deadline = time.monotonic() + BUDGET_SECONDS
    failures: list[str] = []
    for operation in operations:
        strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))
        fuzz_operation(strategy, operation.path in HEAVY, deadline, failures)
    assert not failures, "\n".join(failures[:10])


def fuzz_operation(strategy, heavy: bool, deadline: float, failures: list[str]) -> None:
    """Call one operation with generated cases until its example budget or the overall deadline runs out."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case):
        if time.monotonic() > deadline:
            return
        if heavy and isinstance(case.body, dict):
            case.body.update(CHEAP)
        response = case.call(timeout=60)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {case.body!r:.300} -> "
                f"{response.status_code} {response.text[:300]}"
            )

    check()
