"""The extension system: discovery and order, failure isolation, install.py, the script API with a real
generation, callbacks (tab, setting, routes), page assets, install from a (local) git URL and the access rule."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from modules.extensions import actions, bridge, installer
from modules.extensions.discovery import active_extension_dirs, discover
from modules.extensions.manager import install_extensions
from modules.extensions.metadata import (
    ScriptEntry,
    ScriptRules,
    order_scripts,
    parse_metadata,
)
from modules.extensions.preload import collect_preload_hooks
from modules.processing.params import GenerationParams, ScriptArgs
from modules.settings.cli import parse_flags
from tests.checkpoint_factory import write_checkpoint
from tests.helpers import make_backend

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "extensions" / "example-ext"
SMALL = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "seed": 1, "do_not_save_samples": True}


def add_extension(data: Path, name: str, files: dict[str, str]) -> Path:
    root = data / "extensions" / name
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    data = tmp_path_factory.mktemp("ext")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    shutil.copytree(FIXTURE, data / "extensions" / "example-ext")
    add_extension(data, "broken-ext", {"scripts/boom.py": "raise RuntimeError('deliberately broken')\n"})
    add_extension(
        data,
        "bad-install",
        {
            "install.py": "import sys\nprint('nope', file=sys.stderr)\nsys.exit(3)\n",
            "scripts/never.py": "raise AssertionError('must not be imported')\n",
        },
    )
    add_extension(data, "needs-other", {"metadata.ini": "[Extension]\nRequires = not-installed-ext\n"})
    backend = make_backend(data)
    install_extensions(backend)
    return backend


def run(backend, **fields):
    return backend.generation.run(GenerationParams(**{**SMALL, **fields}))


def test_metadata_is_parsed_and_orders_scripts():
    meta = parse_metadata("[Extension]\nName = My-Ext\nRequires = a, b\n[scripts/x.py]\nAfter = other\n", "folder")
    assert meta.canonical_name == "my-ext" and meta.requires == ("a", "b")
    assert meta.rules_for("scripts/x.py").after == ("other",)
    entries = [
        ScriptEntry("my-ext", Path("x.py"), ScriptRules(after=("other",))),
        ScriptEntry("other", Path("y.py"), ScriptRules()),
        ScriptEntry("third", Path("z.py"), ScriptRules(before=("my-ext/x.py",))),
    ]
    assert [e.path.name for e in order_scripts(entries)] == ["y.py", "z.py", "x.py"]
    cycle = [
        ScriptEntry("a", Path("a.py"), ScriptRules(after=("b",))),
        ScriptEntry("b", Path("b.py"), ScriptRules(after=("a",))),
    ]
    assert len(order_scripts(cycle)) == 2  # a cycle is broken, nothing is dropped


def test_broken_extensions_are_isolated_and_reported(backend):
    manager = backend.extensions
    broken, bad_install, needs = manager.get("broken-ext"), manager.get("bad-install"), manager.get("needs-other")
    assert broken.failed and "deliberately broken" in broken.status
    assert bad_install.failed and "exit code 3" in bad_install.status and not bad_install.active
    assert needs.failed and "not-installed-ext" in needs.status
    example = manager.get("example-ext")
    assert example.active and not example.failed and example.status == "enabled"
    assert manager.get("sd-webui-controlnet").is_builtin and manager.get("sd-webui-controlnet").active
    # the app still generates with the broken ones around
    assert run(backend, prompt="still works").images[0].size == (64, 64)


def test_extension_context_runs_work_as_jobs_on_the_queue(backend):
    """``submit_job`` / ``run_job``: the task runs on the queue's worker, its result or error comes back."""
    import threading

    context = backend.extensions.contexts["example-ext"]
    assert context.run_job(lambda job: (threading.current_thread().name, job.label)) == (
        "job-worker-0",
        "example-ext job",
    )
    with pytest.raises(ValueError, match="told to fail"):
        context.run_job(lambda job: (_ for _ in ()).throw(ValueError("told to fail")), label="failing")
    job = context.submit_job(lambda job: 21 * 2, label="answer")
    assert job.wait(30) == 42 and job.label == "answer"


def test_metadata_load_order_and_script_listing(backend):
    manager = backend.extensions
    names = [loaded.cls.__name__ for loaded in manager.loaded_scripts]
    assert names.index("FirstByMetadata") < names.index("SecondByMetadata")  # a_second.py is After b_first.py
    program = ["Loopback", "OutpaintingMk2", "PoorMansOutpainting", "PromptMatrix", "PromptsFromFile", "SDUpscale"]
    assert names[:8] == [*program, "SoftInpainting", "XYZPlot"]  # the program's scripts first, in file order
    runner = backend.scripts
    assert runner.selectable_titles(False)[:3] == ["Prompt matrix", "Prompts from file or textbox", "X/Y/Z plot"]
    assert "Example selectable" in runner.selectable_titles(True)
    assert "Example second" not in [s.title() for s in runner.scripts(False)]  # show() False: hidden
    assert {s.title() for s in runner.alwayson(False)} >= {"Example always-on", "ControlNet"}


def test_script_ui_value_reaches_process_and_postprocess(backend):
    given = run(backend, prompt="a", alwayson_scripts=(ScriptArgs("example ALWAYS-on", ("world", 5)),))
    assert "Example: world-5" in given.infotexts[0]
    defaults = run(backend, prompt="a")  # not given: the UI defaults
    assert "Example: hello-3" in defaults.infotexts[0]
    flipped = run(backend, prompt="a", alwayson_scripts=(ScriptArgs("Example always-on", ("flip", 0)),))
    assert flipped.images[0].tobytes() == defaults.images[0].transpose(0).tobytes()


def test_selectable_script_runs_through_the_normal_path(backend):
    result = run(backend, prompt="b", script_name="example selectable", script_args=(1,))
    assert "Steps: 1" in result.infotexts[0] and result.all_prompts == ["b selectable"]
    assert "Example: hello-3" in result.infotexts[0]  # always-on scripts still apply inside


def test_model_cfg_and_save_callbacks(backend):
    seen = backend.offers.find("example_seen")
    before = seen["cfg_denoiser_calls"]
    run(backend, prompt="c", steps=3)
    assert seen["cfg_denoiser_calls"] - before == 3  # on_cfg_denoiser: once per denoiser call
    assert seen["models"] and seen["models"][-1] is backend.models.current  # on_model_loaded
    image, text = backend.scripts.before_image_saved(None, "img", "params")
    assert (image, text) == ("img", "params\nExample saved")


def test_tab_setting_assets_and_localization_dirs(backend):
    manager = backend.extensions
    tabs = manager.ui_tabs()
    assert [(title, tab_id) for _, title, tab_id in tabs] == [("Example tab", "example_tab")]
    assert backend.settings.get("example_option") == "default value"
    assert "example_option" in backend.settings.registry
    assert "control_net_unit_count" in backend.settings.registry  # ControlNet's on_ui_settings
    assert "window.exampleExtensionLoaded" in manager.page_head()
    assert "rgb(1, 2, 3)" in manager.page_css()
    dirs = active_extension_dirs(backend)
    assert backend.paths.extensions / "example-ext" in dirs and backend.paths.extensions / "broken-ext" in dirs


def test_app_started_routes_land_before_the_ui_mount(backend):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from starlette.responses import PlainTextResponse

    app = FastAPI()
    app.mount("/", lambda scope, receive, send: PlainTextResponse("ui")(scope, receive, send))
    backend.extensions.app_started(None, app)
    assert TestClient(app).get("/controlnet/version").json() == {"version": 3}


def test_facades_refuse_calls_outside_an_extension():
    from modules import script_callbacks

    with pytest.raises(bridge.NoExtensionContext):
        script_callbacks.on_ui_tabs(list)


def test_preload_adds_flags_and_disabled_extensions_are_skipped(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "extensions" / "example-ext")
    argv = ["--data-dir", str(tmp_path), "--example-flag", "on", "--controlnet-dir", str(tmp_path)]
    flags = parse_flags(argv, extra=collect_preload_hooks(argv))
    assert flags.example_flag == "on" and flags.controlnet_dir == str(tmp_path)
    (tmp_path / "config.json").write_text('{"disabled_extensions": ["example-ext"]}')
    assert not any("example" in str(getattr(h, "__module__", "")) for h in collect_preload_hooks(argv[:2]))
    from modules.settings.registry import OptionRegistry, Settings

    flags = parse_flags(["--data-dir", str(tmp_path)])
    settings = Settings(OptionRegistry(), None)
    from modules.paths import Paths

    found = {e.name: e for e in discover(Paths.from_flags(flags), settings, flags)}
    assert found["example-ext"].active
    settings.update({"disabled_extensions": ["example-ext"]}, save=False)
    assert not {e.name: e for e in discover(Paths.from_flags(flags), settings, flags)}["example-ext"].active
    settings.update({"disabled_extensions": [], "disable_all_extensions": "extra"}, save=False)
    found = {e.name: e for e in discover(Paths.from_flags(flags), settings, flags)}
    assert not found["example-ext"].active and found["sd-webui-controlnet"].active


def make_bare_repo(tmp_path: Path) -> Path:
    import git

    work = tmp_path / "source"
    (work / "scripts").mkdir(parents=True)
    (work / "scripts" / "hello.py").write_text("VALUE = 1\n")
    (work / "install.py").write_text(f"open({str(tmp_path / 'installed.txt')!r}, 'w').write('yes')\n")
    repo = git.Repo.init(work)
    repo.index.add(["scripts/hello.py", "install.py"])
    actor = git.Actor("Test", "test@example.com")
    repo.index.commit("first", author=actor, committer=actor)
    bare = tmp_path / "remote" / "sd-webui-hello.git"
    repo.clone(str(bare), bare=True)
    return bare


def test_install_from_local_git_url_and_update(tmp_path):
    import git

    bare = make_bare_repo(tmp_path)
    data = tmp_path / "data"
    backend = make_backend(data, load_model=False)
    manager = install_extensions(backend)
    message = actions.install_from_url(manager, str(bare))
    target = data / "extensions" / "sd-webui-hello"
    assert "Installed into" in message and (target / "scripts" / "hello.py").is_file()
    assert (tmp_path / "installed.txt").read_text() == "yes"  # install.py ran
    listed = manager.get("sd-webui-hello")
    assert listed is not None and listed.git().remote == str(bare) and len(listed.git().version) == 8
    with pytest.raises(ValueError, match="already"):
        actions.install_from_url(manager, str(bare) + "/")
    # a new commit upstream: check, then update
    work = tmp_path / "source"
    (work / "scripts" / "hello.py").write_text("VALUE = 2\n")
    repo = git.Repo(work)
    repo.index.add(["scripts/hello.py"])
    actor = git.Actor("Test", "test@example.com")
    repo.index.commit("second", author=actor, committer=actor)
    repo.create_remote("origin", str(bare)).push(f"HEAD:{repo.active_branch.name}")
    assert actions.check_for_updates(manager)["sd-webui-hello"] == "behind"
    assert "Updated: sd-webui-hello" in actions.update_extensions(manager, ["sd-webui-hello"])
    assert (target / "scripts" / "hello.py").read_text() == "VALUE = 2\n"
    # apply: the choice is saved in A1111's keys
    assert "Restart" in actions.apply_and_restart(manager, ["sd-webui-controlnet"], "none")
    assert backend.settings.get("disabled_extensions") == ["sd-webui-hello"]


def test_changes_are_refused_when_reachable_from_other_machines(tmp_path):
    bare = make_bare_repo(tmp_path)
    backend = make_backend(tmp_path / "data", ["--listen"], load_model=False)
    manager = install_extensions(backend)
    for action in (
        lambda: actions.install_from_url(manager, str(bare)),
        lambda: actions.apply_and_restart(manager, [], "none"),
        lambda: actions.update_extensions(manager, []),
    ):
        with pytest.raises(installer.ExtensionAccessDenied, match="--enable-insecure-extension-access"):
            action()
    assert not (tmp_path / "data" / "extensions" / "sd-webui-hello").exists()
    allowed = make_backend(tmp_path / "data2", ["--listen", "--enable-insecure-extension-access"], load_model=False)
    assert "Installed into" in actions.install_from_url(install_extensions(allowed), str(bare))


def test_install_py_runs_once_per_version(tmp_path):
    marker = tmp_path / "runs.txt"
    data = tmp_path / "data"
    add_extension(data, "counted", {"install.py": f"open({str(marker)!r}, 'a').write('x')\n"})
    for _ in range(2):
        install_extensions(make_backend(data, load_model=False))
    assert marker.read_text() == "x"
    add_extension(data, "counted", {"install.py": f"open({str(marker)!r}, 'a').write('y')\n"})
    install_extensions(make_backend(data, load_model=False))
    assert marker.read_text() == "xy"  # a changed install.py runs again
