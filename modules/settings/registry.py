"""Typed registry of user options.

Every setting the app (or an extension) offers is declared once here as an ``OptionInfo``: the Settings
tab, the HTTP API's ``/sdapi/v1/options`` and the store all read the same declarations, so a setting that
exists in one place exists everywhere. The registry knows nothing about Gradio; ``component`` is a plain
name the UI layer maps to a widget.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

log = logging.getLogger(__name__)

Choices = tuple[Any, ...] | Callable[[], Iterable[Any]] | None


@dataclasses.dataclass(frozen=True)
class Section:
    """A group of options shown together in the Settings sidebar; ``id`` is A1111's section key."""

    id: str
    label: str
    category: str = "System"


@dataclasses.dataclass(frozen=True)
class OptionInfo:
    """One setting: its key, default, label, where it lives and how it is edited."""

    key: str
    default: Any
    label: str
    section: Section
    component: str = "textbox"  # textbox | number | slider | checkbox | dropdown | radio | multiselect
    choices: Choices = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    info: str = ""
    needs_reload_ui: bool = False
    needs_restart: bool = False
    infotext: str | None = None  # infotext key that maps back onto this option (e.g. "Clip skip")
    restrict_api: bool = False  # cannot be set through the HTTP API (paths, security-relevant values)
    is_path: bool = False  # a folder the app writes to: locked when the server is reachable from the network
    check: Callable[[Any], str | None] | None = None  # extra validation: the problem in words, or None

    def choice_list(self) -> list[Any]:
        if self.choices is None:
            return []
        if callable(self.choices):
            return list(self.choices())
        return list(self.choices)

    def coerce(self, value: Any) -> Any:
        """Convert a value from JSON / a form into this option's type; raise ValueError when impossible.

        Values of the wrong shape (a dict for a text, a number for a list) and values outside the declared
        range, the static choices of a dropdown/radio or the option's own ``check`` are refused, so nothing
        stored can make every job fail.
        """
        default = self.default
        if isinstance(default, bool):
            result: Any = self._bool(value)
        elif isinstance(default, int):
            number = self._finite(value)
            if number != int(number):
                raise ValueError(f"{self.key}: expected a whole number, got {value!r}")
            result = self._clamp(int(number))
        elif isinstance(default, float):
            result = self._clamp(self._finite(value))
        elif isinstance(default, list):
            if isinstance(value, str):
                result = [part.strip() for part in value.split(",") if part.strip()]
            elif value is None:
                result = []
            elif isinstance(value, (list, tuple)) and all(isinstance(item, (str, int, float)) for item in value):
                result = list(value)
            else:
                raise ValueError(f"{self.key}: expected a list of names, got {_short(value)}")
        elif isinstance(default, str):
            if isinstance(value, (dict, list, tuple, set)):
                raise ValueError(f"{self.key}: expected text, got {_short(value)}")
            result = "" if value is None else str(value)
        else:
            result = value
        in_choices = self.component in ("dropdown", "radio") and isinstance(self.choices, tuple) and self.choices
        if in_choices and result not in self.choices:
            raise ValueError(f"{self.key}: {result!r} is not one of {', '.join(map(str, self.choices))}")
        if self.check is not None:
            problem = self.check(result)
            if problem:
                raise ValueError(f"{self.key}: {problem}")
        return result

    def _bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            if value.lower() in ("true", "1", "yes", "on"):
                return True
            if value.lower() in ("false", "0", "no", "off", ""):
                return False
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if value is None:
            return False
        raise ValueError(f"{self.key}: expected true/false, got {_short(value)}")

    def _finite(self, value: Any) -> float:
        if isinstance(value, (bool, list, dict, tuple)) or value is None:
            raise ValueError(f"{self.key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.key}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{self.key}: expected a finite number, got {value!r}")
        return number

    def _clamp(self, number: float) -> float:
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"{self.key}: {number} is below the minimum {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"{self.key}: {number} is above the maximum {self.maximum}")
        return number


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OptionRegistry:
    """Ordered collection of ``OptionInfo``; extensions add theirs through ``add``."""

    def __init__(self, options: Iterable[OptionInfo] = ()) -> None:
        self._options: dict[str, OptionInfo] = {}
        for option in options:
            self.add(option)

    def add(self, option: OptionInfo) -> None:
        if option.key in self._options:
            log.warning("Setting %r declared twice; the later declaration wins", option.key)
        self._options[option.key] = option

    def set_choices(self, key: str, choices: Choices) -> None:
        """Give an option its choice list once the subsystem that knows it exists (models, languages)."""
        option = self._options[key]
        self._options[key] = dataclasses.replace(option, choices=choices)

    def __contains__(self, key: object) -> bool:
        return key in self._options

    def __getitem__(self, key: str) -> OptionInfo:
        return self._options[key]

    def __iter__(self) -> Iterator[OptionInfo]:
        return iter(self._options.values())

    def __len__(self) -> int:
        return len(self._options)

    def get(self, key: str) -> OptionInfo | None:
        return self._options.get(key)

    def sections(self) -> list[Section]:
        seen: dict[str, Section] = {}
        for option in self._options.values():
            seen.setdefault(option.section.id, option.section)
        return list(seen.values())

    def defaults(self) -> dict[str, Any]:
        return {key: option.default for key, option in self._options.items()}


class FrozenSettingsError(PermissionError):
    """Raised when a write is attempted while ``--freeze-settings`` is active."""


class LockedSettingError(PermissionError):
    """Raised when a locked setting (a path while the server listens on the network...) would change."""


class Settings:
    """Current values of all options, backed by a store; thread-safe.

    Reads fall back to the registry default. Values for keys the registry does not know (an extension that
    is not installed right now) are kept untouched and written back on save.
    """

    def __init__(self, registry: OptionRegistry, store: Any = None, frozen: bool = False) -> None:
        self.registry = registry
        self.store = store
        self.frozen = frozen
        self._values: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._listeners: list[Callable[[str, Any, Any], None]] = []
        self.load_warning: str | None = None
        self.locked: dict[str, str] = {}  # key -> why it cannot be changed from the page or the API
        if store is not None:
            self._values, self.load_warning = store.load()
            self.validate_stored()

    def validate_stored(self) -> list[str]:
        """Check every stored value of a known option; a bad one is dropped (its default applies).

        Called at load and again once extensions have declared their options. The problems are logged and
        added to ``load_warning`` (shown on the page); the file as it was is kept beside as a backup and
        the cleaned values are written back. Returns the problems found.
        """
        problems: list[str] = []
        with self._lock:
            for key, value in list(self._values.items()):
                option = self.registry.get(key)
                if option is None:
                    continue
                try:
                    self._values[key] = option.coerce(value)
                except (TypeError, ValueError, OverflowError) as error:
                    problems.append(str(error) if str(error).startswith(key) else f"{key}: {error}")
                    del self._values[key]
            if not problems:
                return problems
            backup = self._backup_store()
            if not self.frozen and self.store is not None:
                try:
                    self.store.save(self._values)
                except OSError as error:
                    log.warning("Could not write the corrected settings: %s", error)
        where = f"; the file as it was is kept as {backup}" if backup else ""
        message = f"Invalid settings replaced by their defaults ({'; '.join(problems)}){where}."
        log.warning(message)
        self.load_warning = f"{self.load_warning} {message}" if self.load_warning else message
        return problems

    def _backup_store(self) -> str | None:
        backup = getattr(self.store, "backup", None)
        if backup is None:
            return None
        try:
            return str(backup())
        except OSError as error:
            log.warning("Could not back up the settings file: %s", error)
            return None

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            if key in self._values:
                return self._values[key]
        option = self.registry.get(key)
        if option is not None:
            return option.default
        return default

    def data(self) -> dict[str, Any]:
        """All known options with their current values, plus unknown stored keys."""
        with self._lock:
            merged = self.registry.defaults()
            merged.update(self._values)
            return merged

    def on_change(self, listener: Callable[[str, Any, Any], None]) -> None:
        """Call ``listener(key, old, new)`` after a value changes (model switch on sd_model_checkpoint...)."""
        self._listeners.append(listener)

    def set(self, key: str, value: Any, save: bool = True) -> bool:
        """Set one option; returns True when the value changed. Validates known keys."""
        return bool(self.update({key: value}, save=save))

    def update(self, values: Mapping[str, Any], save: bool = True) -> list[str]:
        """Set several options at once (validated first, all or nothing); returns the changed keys."""
        if self.frozen:
            raise FrozenSettingsError("Settings are read-only (--freeze-settings)")
        coerced: dict[str, Any] = {}
        for key, value in values.items():
            option = self.registry.get(key)
            coerced[key] = option.coerce(value) if option is not None else value
            if key in self.locked and coerced[key] != self.get(key):
                raise LockedSettingError(f"{key} cannot be changed: {self.locked[key]}")
        changed: list[tuple[str, Any, Any]] = []
        with self._lock:
            for key, value in coerced.items():
                old = self.get(key)
                if old != value:
                    self._values[key] = value
                    changed.append((key, old, value))
            if changed and save and self.store is not None:
                self.store.save(self._values)
        for key, old, new in changed:
            for listener in self._listeners:
                try:
                    listener(key, old, new)
                except Exception:  # a listener's failure must not lose the saved value
                    log.exception("Settings listener failed for %s", key)
        return [key for key, _, _ in changed]

    def save(self) -> None:
        if self.frozen:
            raise FrozenSettingsError("Settings are read-only (--freeze-settings)")
        if self.store is not None:
            with self._lock:
                self.store.save(self._values)

    def overlay(self, overrides: Mapping[str, Any] | None) -> SettingsView:
        """A read-only view with per-request overrides on top; the shared values are never touched."""
        return SettingsView(self, dict(overrides or {}))


class SettingsView:
    """Immutable read-only settings seen by one job: shared values plus that job's overrides."""

    def __init__(self, base: Settings, overrides: dict[str, Any]) -> None:
        self._base = base
        self._overrides: dict[str, Any] = {}
        for key, value in overrides.items():
            option = base.registry.get(key)
            self._overrides[key] = option.coerce(value) if option is not None else value

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._overrides:
            return self._overrides[key]
        return self._base.get(key, default)

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self._overrides)
