"""The model manager: which checkpoint is loaded, switching, VAE choice, caches; add-on networks delegated.

One ``ModelManager`` lives in the Backend. ``load`` is thread-safe and transactional: the new file is
inspected before anything else happens, and if loading fails the previous model is still loaded and usable
(it is only moved off the GPU while the new one loads, and moved back on failure). Previously loaded models
are kept in RAM up to the ``sd_checkpoint_cache`` setting, so switching back to them takes a fraction of a
second. Hashes are computed in a background thread when a checkpoint is loaded, never at start-up.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modules.models import registry
from modules.models.embeddings import Embedding
from modules.models.errors import ModelLoadError
from modules.models.hashing import BackgroundHasher, HashCache
from modules.models.networks import LoraInfo, NetworkLibrary
from modules.models.registry import CheckpointInfo, VaeInfo
from modules.models.safe_text import plain_sentence
from modules.models.vae_swap import VaeSwapper

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
SCAN_WARNING = "Model folder scan: "


class ModelManager:
    """Lists, loads and switches checkpoints and VAEs; applies LoRAs; owns the embeddings database."""

    def __init__(self, paths: Any, settings: Any, flags: Any, device_info: Any = None) -> None:
        self.paths = paths
        self.settings = settings
        self.flags = flags
        self._device_info = device_info
        self._lock = threading.RLock()
        self._checkpoints: list[CheckpointInfo] | None = None
        self._vaes: list[VaeInfo] | None = None
        self._current: Any = None
        self._cache: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._status = ""
        self.warnings: list[str] = []  # model problems shown on the page (skipped start-up files, refused VAEs)
        self.hashes = HashCache(getattr(paths, "cache_file", None))
        self.hasher = BackgroundHasher(self.hashes)
        self.allow_unsafe_pickle = bool(getattr(flags, "disable_safe_unpickle", False))
        if self.allow_unsafe_pickle:
            log.warning(
                "--disable-safe-unpickle: .ckpt/.pt files are loaded with plain pickle. A malicious "
                "file can run any code on this computer. Only load files you trust."
            )
        self.vae_swapper = VaeSwapper(self.allow_unsafe_pickle, self.add_warning)
        self.networks = NetworkLibrary(paths, self.hashes, flags, self.allow_unsafe_pickle)
        self.embedding_db = self.networks.embedding_db

    # --- settings and device ------------------------------------------------------------------------------------

    def _setting(self, key: str, default: Any) -> Any:
        value = self.settings.get(key) if self.settings is not None else None
        return default if value is None else value

    def _store_setting(self, key: str, value: Any) -> None:
        setter = getattr(self.settings, "set", None)
        if setter is None:
            return
        try:
            setter(key, value)
        except (PermissionError, ValueError) as error:  # frozen settings, read-only view
            log.debug("Not storing %s: %s", key, error)

    @property
    def device_info(self) -> Any:
        if self._device_info is None:
            from modules.devices import choose_device

            self._device_info = choose_device(self.flags)
        return self._device_info

    # --- listing ----------------------------------------------------------------------------------------------

    def checkpoints(self) -> list[CheckpointInfo]:
        if self._checkpoints is None:
            self.refresh()
        return list(self._checkpoints or [])

    def vaes(self) -> list[VaeInfo]:
        if self._vaes is None:
            self.refresh()
        return list(self._vaes or [])

    def refresh(self) -> list[CheckpointInfo]:
        """Rescan checkpoint, VAE and LoRA folders (the UI's refresh button); hashes come from the cache."""
        extra = [Path(self.flags.ckpt)] if getattr(self.flags, "ckpt", None) else []
        problems: list[str] = []
        found = registry.scan_checkpoints(self.paths.checkpoints, extra, problems)
        known = {str(info.path.resolve()): info for info in self._checkpoints or []}
        infos = []
        for info in found:
            old = known.get(str(info.path.resolve()))
            if old is not None and old.name == info.name:
                info = old
            info.sha256 = info.sha256 or self.hashes.cached(info.path)
            infos.append(info)
        vaes = registry.scan_vaes(self.paths.vae, self.paths.checkpoints, problems)
        self.warnings[:] = [w for w in self.warnings if not w.startswith(SCAN_WARNING)]  # this scan's only
        for problem in problems:  # symlink loops, unreadable entries: shown on the page
            self.add_warning(f"{SCAN_WARNING}{problem}")
        for vae in vaes:
            vae.sha256 = self.hashes.cached(vae.path)
        with self._lock:
            self._checkpoints, self._vaes = infos, vaes
            self.vae_swapper.forget_refusals()  # a replaced file gets a new chance
            if self._current is not None and self._status.startswith("Failed"):
                self._status = f"Loaded {self._current.checkpoint.title}"  # the failure was reported; move on
        self.networks.refresh()
        return list(infos)

    def find_checkpoint(self, name_title_or_hash: str | None) -> CheckpointInfo | None:
        infos = self.checkpoints()
        found = registry.find_checkpoint(infos, name_title_or_hash)
        query = (name_title_or_hash or "").strip().lower()
        if found is None and len(query) == 8 and all(c in "0123456789abcdef" for c in query):
            for info in infos:  # old 8-hex infotext hashes: cheap to compute (64 KiB per file)
                info.legacy_hash = info.legacy_hash or self.hashes.get(info.path, "legacy")
            found = registry.find_checkpoint(infos, query)
        return found

    def startup_checkpoint(self) -> CheckpointInfo | None:
        """--ckpt, else the last used one (``sd_model_checkpoint``), else the first found."""
        if getattr(self.flags, "ckpt", None):
            wanted = Path(self.flags.ckpt).resolve()
            for info in self.checkpoints():
                if info.path.resolve() == wanted:
                    return info
            log.warning("--ckpt %s: file not found", self.flags.ckpt)
        last = self._setting("sd_model_checkpoint", "")
        if last:
            info = self.find_checkpoint(last)
            if info is not None:
                return info
            log.warning("Last used checkpoint %r not found; using the first one", last)
        infos = self.checkpoints()
        return infos[0] if infos else None

    def load_startup(self) -> Any:
        """Load the start-up checkpoint; one that fails is skipped with a warning and the next one is tried.

        Returns the loaded model, or None when no file could be loaded (every failure is in ``warnings``).
        """
        first = self.startup_checkpoint()
        if first is None:
            return None
        candidates = [first, *(info for info in self.checkpoints() if info is not first)]
        for info in candidates:
            try:
                return self.load(info)
            except ModelLoadError as error:
                warning = f"Start-up checkpoint skipped: {error}"
                log.warning(warning)
                self.add_warning(warning)
        self._status = f"No checkpoint could be loaded: {'; '.join(self.warnings[-3:])}"
        return None

    # --- status -----------------------------------------------------------------------------------------------

    @property
    def current(self) -> Any:
        return self._current

    @property
    def status(self) -> str:
        if self._status:
            return self._status
        if not self.checkpoints():
            return f"No checkpoints found. Put .safetensors or .ckpt files in {self.paths.checkpoints[0]}"
        return "No model loaded" if self._current is None else f"Loaded {self._current.checkpoint.title}"

    # --- hashing ----------------------------------------------------------------------------------------------

    def _schedule_hash(self, info: Any) -> None:
        """Hash ``info`` in the background (the cheap legacy hash right away)."""
        try:
            if getattr(info, "legacy_hash", "") is None:
                info.legacy_hash = self.hashes.get(info.path, "legacy")
        except OSError:
            return
        if not info.sha256 and not getattr(self.flags, "no_hashing", False):
            self.hasher.submit(info.path, lambda digest, info=info: self._hash_done(info, digest))

    def _hash_done(self, info: Any, digest: str) -> None:
        old_title = info.title
        info.sha256 = digest
        if (
            self._current is not None
            and self._current.checkpoint is info
            and self._setting("sd_model_checkpoint", "") == old_title
        ):
            self._store_setting("sd_model_checkpoint", info.title)  # A1111 stores the title with its hash

    def hash_of(self, info: Any) -> str | None:
        """Full sha256 of a checkpoint or VAE (waits for / computes it); None under --no-hashing if unknown."""
        if not info.sha256:
            job = self.hasher.pending(info.path)
            if job is not None:
                info.sha256 = job.result()
            elif getattr(self.flags, "no_hashing", False):
                info.sha256 = self.hashes.cached(info.path)
            else:
                info.sha256 = self.hashes.get(info.path)
        return info.sha256

    # --- loading ----------------------------------------------------------------------------------------------

    def _conditioner_factory(self, arch: Any, encoders: list, device: Any, dtype: Any) -> Any:
        from modules.models.text_conditioner import ClipTextConditioner

        return ClipTextConditioner(arch.family, encoders, self.settings, device, dtype, self.embedding_db)

    def _move(self, model: Any, device: Any) -> None:
        if model is None or model.offloader is not None:
            return
        for module in (model.unet, model.vae, *model.text_encoders):
            module.to(device)

    def load(self, checkpoint_or_title: Any, progress: ProgressFn | None = None, remember: bool = True) -> Any:
        """Make ``checkpoint_or_title`` the current model; ModelLoadError (old model kept) on failure.

        ``remember``: store it as the ``sd_model_checkpoint`` setting (not for one request's override).
        """
        with self._lock:
            info = (
                checkpoint_or_title
                if isinstance(checkpoint_or_title, CheckpointInfo)
                else self.find_checkpoint(checkpoint_or_title)
            )
            if info is None and checkpoint_or_title:  # a file added since the last scan
                self.refresh()
                info = self.find_checkpoint(checkpoint_or_title)
            if info is None:
                if not self.checkpoints():
                    raise ModelLoadError(None, self.status)
                raise ModelLoadError(
                    None,
                    f"Checkpoint {checkpoint_or_title!r} not found; refresh the list or "
                    f"check the models folder {self.paths.checkpoints[0]}",
                )
            key = str(info.path.resolve())
            previous = self._current
            if previous is not None and str(previous.checkpoint.path.resolve()) == key:
                return previous
            try:
                if key in self._cache:
                    model = self._cache[key]
                    self._move(previous, "cpu")
                    self._move(model, self.device_info.device)
                    try:
                        self.vae_swapper.apply_or_own(model, self.resolve_vae(info))
                    except BaseException:
                        self._move(model, "cpu")  # stays cached
                        raise
                    del self._cache[key]
                else:
                    model = self._load_new(info, progress)
            except BaseException as error:
                self._move(previous, self.device_info.device)
                self._status = f"Failed to load {info.title}: {plain_sentence(getattr(error, 'reason', error))}"
                if previous is not None:
                    self._status += f" (still using {previous.checkpoint.title})"
                if isinstance(error, ModelLoadError):
                    raise
                if isinstance(error, Exception):  # any library error on an untrusted file: one plain sentence
                    log.warning("Loading %s failed", info.path, exc_info=error)
                    reason = str(error) if isinstance(error, (RuntimeError, OSError, ValueError)) else repr(error)
                    raise ModelLoadError(info.path, f"could not be loaded: {reason}") from error
                raise
            if previous is not None:
                self._retire(previous)
            self._current = model
            self._status = f"Loaded {info.title}"
            if remember:
                self._store_setting("sd_model_checkpoint", info.title)
            return model

    def _load_new(self, info: CheckpointInfo, progress: ProgressFn | None) -> Any:
        from modules.models.loader import inspect_checkpoint, load_sd_model

        self._status = f"Loading {info.title}…"
        state_file, detection = inspect_checkpoint(info.path, self.allow_unsafe_pickle)
        vae_info = self.resolve_vae(info)
        try:
            if not detection.arch.text_config["has_vae"]:
                if vae_info is None:
                    raise ModelLoadError(info.path, "contains no VAE weights; choose a VAE file in Settings > VAE")
                detection = self._with_vae_config_of(detection, vae_info)
        except BaseException:
            state_file.close()
            raise
        self._schedule_hash(info)
        self._move(self._current, "cpu")  # free VRAM for the new model (moved back if this fails)

        def report(fraction: float) -> None:
            self._status = f"Loading {info.title}… ({int(fraction * 100)}%)"
            if progress is not None:
                progress(fraction, self._status)

        model = load_sd_model(
            info.path,
            info,
            self.device_info,
            self._conditioner_factory,
            self.allow_unsafe_pickle,
            report,
            (state_file, detection),
        )
        self.vae_swapper.apply_or_own(model, vae_info, force=vae_info is not None)
        return model

    def _with_vae_config_of(self, detection: Any, vae_info: VaeInfo) -> Any:
        """``detection`` with its VAE config taken from a VAE file (for checkpoints without a VAE)."""
        from modules.models.arch_config import vae_config_from_shapes
        from modules.models.statedict import open_state_dict

        state_file = open_state_dict(vae_info.path, self.allow_unsafe_pickle)
        try:
            config = vae_config_from_shapes(state_file.shapes, "", detection.arch.latent_scale)
        finally:
            state_file.close()
        return dataclasses.replace(detection, arch=dataclasses.replace(detection.arch, vae_config=config))

    def _retire(self, model: Any) -> None:
        """Keep the replaced model in the RAM cache, evicting the oldest beyond ``sd_checkpoint_cache``."""
        limit = max(0, int(self._setting("sd_checkpoint_cache", 1)))
        self._move(model, "cpu")
        freed = limit == 0
        if limit > 0:
            self._cache[str(model.checkpoint.path.resolve())] = model
        while len(self._cache) > limit:
            self._cache.popitem(last=False)
            freed = True
        del model
        if freed:
            from modules.devices import release_memory

            release_memory()

    def unload(self) -> None:
        """Drop the current and all cached models and free their memory."""
        with self._lock:
            self._current = None
            self._cache.clear()
            self._status = "Model unloaded"
        from modules.devices import release_memory

        release_memory()

    # --- VAE --------------------------------------------------------------------------------------------------

    def resolve_vae(self, info: CheckpointInfo, choice: str | None = None) -> VaeInfo | None:
        """The VAE file to use with ``info`` (None: the checkpoint's own), following A1111's rules."""
        choice = choice if choice is not None else self._setting("sd_vae", "Automatic")
        overrides = bool(self._setting("sd_vae_overrides_per_model_preferences", True))
        return registry.resolve_vae(self.vaes(), info, choice, overrides)

    def set_vae(self, name: str | None) -> None:
        """Switch the VAE ("Automatic", "None" or a file name) in the current model; only VAE weights change.

        Transactional: a VAE file that cannot be used raises ModelLoadError and neither the setting nor the
        model's VAE changes.
        """
        with self._lock:
            choice = name or "Automatic"
            if choice not in ("Automatic", "None") and registry.find_vae(self.vaes(), choice) is None:
                self.refresh()  # a file added since the last scan
                if registry.find_vae(self.vaes(), choice) is None:
                    raise ModelLoadError(
                        None, f"VAE {choice!r} not found; refresh the list or check {self.paths.vae[0]}"
                    )
            if self._current is not None:
                self.vae_swapper.apply(self._current, self.resolve_vae(self._current.checkpoint, choice))
            self._store_setting("sd_vae", choice)

    def use_vae(self, model: Any, choice: str | None, strict: bool) -> None:
        """Give ``model`` the VAE the effective ``sd_vae`` (``choice``) names, before a generation.

        So a VAE set through options or ``override_settings`` takes effect at the next job. ``strict`` (a
        request's own override): a VAE that cannot be used is a ModelLoadError; otherwise the checkpoint's own
        VAE is used with a warning.
        """
        with self._lock:
            if (
                strict
                and choice not in (None, "", "Automatic", "None")
                and registry.find_vae(self.vaes(), choice) is None
            ):
                raise ModelLoadError(None, f"VAE {choice!r} not found; choose one of the listed VAEs")
            vae_info = self.resolve_vae(model.checkpoint, choice)
            if strict:
                self.vae_swapper.apply(model, vae_info)
            else:
                self.vae_swapper.apply_or_own(model, vae_info)

    def remember_checkpoint(self, info: CheckpointInfo) -> None:
        """Store ``info`` as the ``sd_model_checkpoint`` setting (after a stored choice failed to load)."""
        self._store_setting("sd_model_checkpoint", info.title)

    def add_warning(self, text: str) -> None:
        """Remember a model problem for the page (the newest few)."""
        if text not in self.warnings:
            self.warnings.append(text)
            del self.warnings[:-10]

    # --- LoRA and embeddings (delegated to the NetworkLibrary) --------------------------------------------------

    def loras(self) -> list[LoraInfo]:
        return self.networks.loras()

    def find_lora(self, name: str) -> LoraInfo | None:
        return self.networks.find_lora(name)

    def lora_hash(self, name: str) -> str | None:
        """A1111's ``Lora hashes`` value: addnet hash (safetensors) or sha256, first 12 hex digits."""
        return self.networks.lora_hash(name)

    def lora_patch(self, model: Any, entries: Sequence[tuple]) -> Any:
        """Context manager: apply ``[(name, weight)]`` or ``[(name, te_weight, unet_weight)]`` to ``model``;
        the weights are restored exactly on exit. Yields a ``lora.PatchReport``."""
        return self.networks.lora_patch(model, entries)

    def embeddings(self) -> list[Embedding]:
        """Embeddings in the embeddings folder (all of them; ``Embedding.fits`` tells which suit a model)."""
        return self.networks.embeddings()

    def embedding_hash(self, name: str) -> str | None:
        """``TI hashes`` value of an embedding: sha256 of its file, first 12 hex digits."""
        return self.networks.embedding_hash(name)
