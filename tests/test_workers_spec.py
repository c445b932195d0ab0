"""Pure parts of the scale-out (no Ray needed): jobs as data, and the queue's lanes for remote jobs."""

from __future__ import annotations

import pickle
import threading

import pytest

from modules.jobs.queue import JobQueue
from modules.processing.params import GenerationParams
from modules.workers.spec import (
    JobSpec,
    ModelMismatch,
    ModelRef,
    check_hash,
    lora_names,
    replica_settings,
    split_iterations,
    strip_checkpoint_override,
)


def test_a_job_is_split_into_one_piece_per_batch_and_scripts_stay_whole():
    assert split_iterations(GenerationParams(n_iter=4, batch_size=2)) == [(0,), (1,), (2,), (3,)]
    assert split_iterations(GenerationParams(n_iter=4, script_name="prompt matrix")) == [None]


def test_spec_is_plain_data_that_survives_pickling():
    params = GenerationParams(
        prompt="a <lora:ink:0.7> cat <lora:fog:1>", override_settings={"CLIP_stop_at_last_layers": 2}
    )
    spec = JobSpec("job-1", params, {"samples_save": False}, ModelRef("checkpoint", "a.safetensors", "ab" * 32))
    clone = pickle.loads(pickle.dumps(spec))
    assert clone == spec and clone.model_id == "ab" * 32
    assert lora_names(params) == ["ink", "fog"]
    assert JobSpec("j", params, {}, ModelRef("checkpoint", "b.ckpt")).model_id == "b.ckpt"  # no hash: the name


def test_replica_settings_keep_the_front_values_but_never_save():
    values = replica_settings({"samples_save": True, "CLIP_stop_at_last_layers": 2}, "a.safetensors [0123456789]")
    assert values["CLIP_stop_at_last_layers"] == 2
    assert values["sd_model_checkpoint"] == "a.safetensors [0123456789]"
    assert not values["samples_save"] and not values["grid_save"] and not values["return_grid"]


def test_checkpoint_override_is_replaced_by_the_spec():
    params = GenerationParams(override_settings={"sd_model_checkpoint": "b", "eta_noise_seed_delta": 31337})
    assert strip_checkpoint_override(params).override_settings == {"eta_noise_seed_delta": 31337}
    plain = GenerationParams()
    assert strip_checkpoint_override(plain) is plain


def test_a_hash_mismatch_is_refused_with_both_hashes_named():
    ref = ModelRef("checkpoint", "a.safetensors", "1" * 64)
    check_hash(ref, "1" * 64, "a.safetensors")
    check_hash(ModelRef("lora", "ink"), "2" * 12, "ink")  # the front has no hash: nothing to compare
    with pytest.raises(ModelMismatch, match=r"a\.safetensors.*2222222222.*1111111111"):
        check_hash(ref, "2" * 64, "a.safetensors")


def test_remote_jobs_run_side_by_side_while_local_jobs_take_turns():
    queue = JobQueue(lanes=2)
    both_running = threading.Barrier(2, timeout=10)
    remote = [queue.submit(lambda job: both_running.wait(), remote=True) for _ in range(2)]
    for job in remote:
        job.wait(timeout=10)  # each waits for the other: only possible when they run at once
    active, peak, lock = [0], [0], threading.Lock()

    def local_work(job):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threading.Event().wait(0.05)
        with lock:
            active[0] -= 1

    for job in [queue.submit(local_work) for _ in range(4)]:
        job.wait(timeout=10)
    assert peak[0] == 1


def test_interrupt_reaches_every_running_job():
    queue = JobQueue(lanes=2)
    started = threading.Barrier(3, timeout=10)

    def work(job):
        started.wait()
        while not job.interrupted:
            job.wait_for_change(0, timeout=0.05)

    jobs = [queue.submit(work, remote=True) for _ in range(2)]
    started.wait()
    assert len(queue.running()) == 2
    queue.interrupt_current()
    for job in jobs:
        job.wait(timeout=10)


def test_a_worker_builds_its_backend_from_flags_and_refuses_other_files(tmp_path):
    from modules.settings.cli import parse_flags
    from modules.workers.worker_backend import build_worker_backend, load_for
    from tests.checkpoint_factory import write_checkpoint

    write_checkpoint("sd15_tiny", tmp_path / "models" / "Stable-diffusion" / "alpha.safetensors", seed=0)
    flags = parse_flags(["--data-dir", str(tmp_path), "--workers", "ray", "--worker-count", "2"])
    backend = build_worker_backend(vars(flags))
    assert backend.flags.workers == "local" and backend.workers is None  # a worker never starts workers
    assert not (tmp_path / "config.json").exists()  # its settings live in memory

    def spec(name, sha256):
        return JobSpec("j", GenerationParams(), {"CLIP_stop_at_last_layers": 2}, ModelRef("checkpoint", name, sha256))

    with pytest.raises(ModelMismatch, match=r"alpha\.safetensors.*0000000000"):
        load_for(backend, spec("alpha.safetensors", "0" * 64))
    with pytest.raises(ModelMismatch, match=r"'gone\.safetensors' is not in this worker's folder"):
        load_for(backend, spec("gone.safetensors", None))
    assert backend.models.current is None  # nothing was loaded for a refused spec
    assert backend.settings.get("CLIP_stop_at_last_layers") == 2  # the front's settings snapshot applies


def test_the_launcher_installs_the_pinned_ray_extra_for_tests_and_for_workers_ray():
    import launch

    assert launch.parse_requirements(launch.RAY_REQUIREMENTS) == [("ray", "2.60.0")]
    assert launch._wants_ray(["--workers", "ray"]) and launch._wants_ray(["--api", "--workers=ray"])
    assert not launch._wants_ray(["--workers", "local"]) and not launch._wants_ray(["--ray-address", "ray"])


def test_replica_progress_is_throttled_but_a_preview_carries_its_step():
    from modules.workers import worker_backend
    from modules.workers.worker_backend import RemoteJob

    sent: list[tuple[str, object]] = []
    spec = JobSpec("job-t", GenerationParams(), {}, ModelRef("checkpoint", "a.safetensors"))
    job = RemoteJob(spec, lambda kind, value: sent.append((kind, value)), lambda: (False, 0))
    for step in range(1, 6):  # far faster than the interval: only the first goes out at once
        job.update(sampling_step=step, sampling_steps=5)
    assert sent == [("progress", {"sampling_step": 1, "sampling_steps": 5})]
    job.set_preview("image")
    assert sent[1:] == [("progress", {"sampling_step": 5, "sampling_steps": 5}), ("preview", "image")]
    assert job.progress().sampling_step == 5  # the replica's own handle is always current
    job._sent_at -= worker_backend.PROGRESS_INTERVAL_S  # the interval has passed
    job.update(textinfo="x")
    assert sent[-1] == ("progress", {"textinfo": "x"})


def test_queued_progress_events_merge_and_keep_the_order_of_previews():
    import doctest

    from modules.workers import worker_backend
    from modules.workers.worker_backend import merge_progress

    events = [("progress", {"sampling_step": 1}), ("preview", "p1"), ("progress", {"sampling_step": 2})]
    events += [("progress", {"sampling_step": 3, "job_no": 0}), ("result", "done")]
    assert merge_progress(events) == [
        ("progress", {"sampling_step": 1}),
        ("preview", "p1"),
        ("progress", {"sampling_step": 3, "job_no": 0}),
        ("result", "done"),
    ]
    assert doctest.testmod(worker_backend).failed == 0
