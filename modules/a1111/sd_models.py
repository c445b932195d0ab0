"""A1111's ``modules.sd_models``: checkpoint list and the loaded model with A1111's attribute names."""

from __future__ import annotations

from typing import Any

from modules.a1111 import _resolve


class CheckpointInfo:
    """A1111's view of one checkpoint file (``filename``, ``title``, ``model_name``, ``hash``, ``sha256``...)."""

    def __init__(self, info: Any) -> None:
        self._info = info
        self.filename = str(info.path)
        self.name = info.name
        self.name_for_extra = info.path.stem
        self.model_name = info.model_name
        self.hash = info.legacy_hash
        self.sha256 = info.sha256
        self.shorthash = info.short_hash
        self.title = info.title
        self.short_title = f"{self.name_for_extra} [{self.shorthash}]" if self.shorthash else self.name_for_extra
        self.ids = info.ids()
        self.metadata: dict[str, Any] = {}

    def calculate_shorthash(self) -> str | None:
        return self.shorthash

    def __repr__(self) -> str:
        return f"CheckpointInfo({self.title!r})"


class ModelView:
    """The loaded model with A1111's names (``is_sdxl``, ``is_sd2``, ``sd_checkpoint_info``...) added."""

    def __init__(self, model: Any) -> None:
        object.__setattr__(self, "_model", model)

    @property
    def is_sdxl(self) -> bool:
        return self._model.arch.family in ("sdxl", "sdxl_refiner")

    @property
    def is_sd2(self) -> bool:
        return self._model.arch.family == "sd2"

    @property
    def is_sd1(self) -> bool:
        return self._model.arch.family == "sd1"

    @property
    def is_sd3(self) -> bool:
        return False

    @property
    def sd_checkpoint_info(self) -> CheckpointInfo:
        return CheckpointInfo(self._model.checkpoint)

    @property
    def sd_model_checkpoint(self) -> str:
        return str(self._model.checkpoint.path)

    @property
    def sd_model_hash(self) -> str | None:
        return self._model.checkpoint.short_hash

    @property
    def model(self) -> Any:
        """The object under A1111's ``sd_model`` (its own model); here the same wrapped model."""
        return self._model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._model, name, value)

    def __eq__(self, other: object) -> bool:
        return self._model is (other._model if isinstance(other, ModelView) else other)

    def __hash__(self) -> int:
        return id(self._model)


def current_model() -> ModelView | None:
    models = _resolve.models_or_none()
    model = models.current if models is not None else None
    return ModelView(model) if model is not None else None


def _checkpoints() -> dict[str, CheckpointInfo]:
    models = _resolve.models_or_none()
    infos = models.checkpoints() if models is not None else []
    return {info.title: CheckpointInfo(info) for info in infos}


def list_models() -> None:
    models = _resolve.models_or_none()
    if models is not None:
        models.refresh()


def checkpoint_tiles(use_short: bool = False) -> list[str]:
    return [c.short_title if use_short else c.title for c in _checkpoints().values()]


def get_closet_checkpoint_match(search_string: str) -> CheckpointInfo | None:
    models = _resolve.models_or_none()
    found = models.find_checkpoint(search_string) if models is not None and search_string else None
    return CheckpointInfo(found) if found is not None else None


def select_checkpoint() -> CheckpointInfo | None:
    model = current_model()
    return model.sd_checkpoint_info if model is not None else None


def model_hash(filename: str) -> str:
    from modules.models.hashing import legacy_model_hash

    return legacy_model_hash(filename)


def reload_model_weights(sd_model: Any = None, info: Any = None, forced_reload: bool = False) -> Any:
    """Load ``info`` (A1111 ``CheckpointInfo`` or a title) through the job queue; the loaded model."""
    backend = _resolve.backend()
    target = getattr(info, "title", info)
    if target is None:
        return current_model()
    models = backend.require_models()
    job = _resolve.current_job()
    if job is not None:  # already on the worker: load directly (a nested job would wait for this one)
        models.load(target)
    else:
        backend.jobs.run(lambda job: models.load(target), label="load checkpoint (extension)")
    return current_model()


def __getattr__(name: str) -> Any:
    if name == "checkpoints_list":
        return _checkpoints()
    if name == "checkpoint_aliases":
        return {alias: c for c in _checkpoints().values() for alias in c.ids}
    if name == "model_data":
        return type("ModelData", (), {"sd_model": current_model()})()
    raise AttributeError(f"module 'modules.sd_models' has no attribute {name!r}")
