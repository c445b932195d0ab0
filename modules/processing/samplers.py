"""The sampler and schedule catalogue: A1111 1.10 display names mapped to our implementations.

Every sampler here runs as a k-diffusion-style sigma sampler (see ``k_samplers``) inside the one denoise loop,
so every sampler works with every schedule type. This module is data only (no torch): the HTTP API and the UI
list samplers and schedules without loading anything heavy.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

log = logging.getLogger(__name__)


class SamplerError(ValueError):
    """An unknown sampler or schedule name, or a request a sampler cannot run; the message lists valid names."""


@dataclasses.dataclass(frozen=True)
class SamplerInfo:
    """One entry of the Sampling method list.

    ``algorithm`` names the stepper in ``k_samplers.STEPPERS``; ``options`` is A1111's options dict as
    ``/sdapi/v1/samplers`` shows it; ``params`` lists the extra sampler parameters that apply to it
    (``eta``, ``s_churn``, ``s_tmin``, ``s_tmax``, ``s_noise``).
    """

    name: str
    algorithm: str
    aliases: tuple[str, ...] = ()
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    params: frozenset[str] = frozenset()
    eta_setting: str = "eta_ancestral"  # which setting supplies eta when the request has none
    automatic_schedule: str = "uniform"  # the schedule "Automatic" means for this sampler
    unit_variance_start: bool = False  # A1111's timestep samplers start txt2img from unit noise in VP space

    @property
    def second_order(self) -> bool:
        return bool(self.options.get("second_order", False))

    @property
    def discard_next_to_last_sigma(self) -> bool:
        return bool(self.options.get("discard_next_to_last_sigma", False))

    def total_model_calls(self, steps: int) -> int:
        """Expected number of denoiser calls, as A1111 counts them for "skip early CFG"."""
        return steps * 2 if self.second_order else steps

    def api_item(self) -> dict[str, Any]:
        """The ``/sdapi/v1/samplers`` item."""
        return {"name": self.name, "aliases": list(self.aliases), "options": dict(self.options)}


@dataclasses.dataclass(frozen=True)
class ScheduleInfo:
    """One Schedule type (A1111 ``sd_schedulers.Scheduler``): ``name`` is the key, ``label`` the display name."""

    name: str
    label: str
    aliases: tuple[str, ...] = ()
    default_rho: float = -1.0
    need_inner_model: bool = False

    def api_item(self) -> dict[str, Any]:
        """The ``/sdapi/v1/schedulers`` item."""
        return {
            "name": self.name,
            "label": self.label,
            "aliases": list(self.aliases) or None,
            "default_rho": self.default_rho,
            "need_inner_model": self.need_inner_model,
        }


_CHURN = frozenset({"s_churn", "s_tmin", "s_tmax", "s_noise"})
_ETA_NOISE = frozenset({"eta", "s_noise"})


def _sampler(name: str, algorithm: str, aliases: tuple[str, ...], options: dict, **fields: Any) -> SamplerInfo:
    return SamplerInfo(name, algorithm, aliases, MappingProxyType(options), **fields)


# Order and names as A1111 1.10 lists them (k-diffusion samplers, then timestep samplers, then LCM).
SAMPLERS: tuple[SamplerInfo, ...] = (
    _sampler("DPM++ 2M", "dpmpp_2m", ("k_dpmpp_2m",), {"scheduler": "karras"}, automatic_schedule="karras"),
    _sampler(
        "DPM++ SDE",
        "dpmpp_sde",
        ("k_dpmpp_sde",),
        {"scheduler": "karras", "second_order": True, "brownian_noise": True},
        params=_ETA_NOISE,
        automatic_schedule="karras",
    ),
    _sampler(
        "DPM++ 2M SDE",
        "dpmpp_2m_sde",
        ("k_dpmpp_2m_sde",),
        {"scheduler": "exponential", "brownian_noise": True},
        params=_ETA_NOISE,
        automatic_schedule="exponential",
    ),
    _sampler(
        "DPM++ 2M SDE Heun",
        "dpmpp_2m_sde_heun",
        ("k_dpmpp_2m_sde_heun",),
        {"scheduler": "exponential", "brownian_noise": True, "solver_type": "heun"},
        params=_ETA_NOISE,
        automatic_schedule="exponential",
    ),
    _sampler(
        "DPM++ 2S a",
        "dpmpp_2s_ancestral",
        ("k_dpmpp_2s_a",),
        {"scheduler": "karras", "uses_ensd": True, "second_order": True},
        params=_ETA_NOISE,
        automatic_schedule="karras",
    ),
    _sampler(
        "DPM++ 3M SDE",
        "dpmpp_3m_sde",
        ("k_dpmpp_3m_sde",),
        {"scheduler": "exponential", "discard_next_to_last_sigma": True, "brownian_noise": True},
        params=_ETA_NOISE,
        automatic_schedule="exponential",
    ),
    _sampler(
        "Euler a", "euler_ancestral", ("k_euler_a", "k_euler_ancestral"), {"uses_ensd": True}, params=frozenset({"eta"})
    ),
    _sampler("Euler", "euler", ("k_euler",), {}, params=_CHURN),
    _sampler("LMS", "lms", ("k_lms",), {}),
    _sampler("Heun", "heun", ("k_heun",), {"second_order": True}, params=_CHURN),
    _sampler(
        "DPM2",
        "dpm_2",
        ("k_dpm_2",),
        {"scheduler": "karras", "discard_next_to_last_sigma": True, "second_order": True},
        params=_CHURN,
        automatic_schedule="karras",
    ),
    _sampler(
        "DPM2 a",
        "dpm_2_ancestral",
        ("k_dpm_2_a",),
        {"scheduler": "karras", "discard_next_to_last_sigma": True, "uses_ensd": True, "second_order": True},
        params=_ETA_NOISE,
        automatic_schedule="karras",
    ),
    _sampler("DPM fast", "dpm_fast", ("k_dpm_fast",), {"uses_ensd": True}, params=_ETA_NOISE),
    _sampler("DPM adaptive", "dpm_adaptive", ("k_dpm_ad",), {"uses_ensd": True}, params=frozenset({"eta"})),
    _sampler(
        "Restart", "restart", ("restart",), {"scheduler": "karras", "second_order": True}, automatic_schedule="karras"
    ),
    _sampler(
        "DDIM",
        "ddim",
        ("ddim",),
        {},
        params=frozenset({"eta"}),
        eta_setting="eta_ddim",
        automatic_schedule="ddim",
        unit_variance_start=True,
    ),
    _sampler(
        "DDIM CFG++",
        "ddim_cfgpp",
        ("ddim_cfgpp",),
        {},
        params=frozenset({"eta"}),
        eta_setting="eta_ddim",
        automatic_schedule="ddim",
        unit_variance_start=True,
    ),
    _sampler("PLMS", "plms", ("plms",), {}, automatic_schedule="ddim", unit_variance_start=True),
    _sampler("UniPC", "unipc", ("unipc",), {}, unit_variance_start=True),
    _sampler("LCM", "lcm", ("k_lcm",), {}),
)

SCHEDULES: tuple[ScheduleInfo, ...] = (
    ScheduleInfo("automatic", "Automatic"),
    ScheduleInfo("uniform", "Uniform", need_inner_model=True),
    ScheduleInfo("karras", "Karras", default_rho=7.0),
    ScheduleInfo("exponential", "Exponential"),
    ScheduleInfo("polyexponential", "Polyexponential", default_rho=1.0),
    ScheduleInfo("sgm_uniform", "SGM Uniform", aliases=("SGMUniform",), need_inner_model=True),
    ScheduleInfo("kl_optimal", "KL Optimal"),
    ScheduleInfo("align_your_steps", "Align Your Steps"),
    ScheduleInfo("simple", "Simple", need_inner_model=True),
    ScheduleInfo("normal", "Normal", need_inner_model=True),
    ScheduleInfo("ddim", "DDIM", need_inner_model=True),
    ScheduleInfo("beta", "Beta", need_inner_model=True),
)

DEFAULT_SAMPLER = "Euler"  # the API's sampler_name / sampler_index default


def list_samplers(hidden: tuple[str, ...] | list[str] = ()) -> list[SamplerInfo]:
    """All offered samplers in A1111's order, minus those named in ``hidden`` (the ``hide_samplers`` setting)."""
    hidden_names = {name.lower() for name in hidden}
    return [info for info in SAMPLERS if info.name.lower() not in hidden_names]


def list_schedulers() -> list[ScheduleInfo]:
    return list(SCHEDULES)


def sampler_names() -> list[str]:
    return [info.name for info in SAMPLERS]


def _sampler_lookup() -> dict[str, SamplerInfo]:
    table: dict[str, SamplerInfo] = {}
    for info in SAMPLERS:
        for key in (info.name, *info.aliases):
            table.setdefault(key.lower(), info)
    return table


def _schedule_lookup() -> dict[str, ScheduleInfo]:
    table: dict[str, ScheduleInfo] = {}
    for info in SCHEDULES:
        for key in (info.label, info.name, *info.aliases):
            table.setdefault(key.lower(), info)
    return table


_SAMPLERS_BY_KEY = MappingProxyType(_sampler_lookup())
_SCHEDULES_BY_KEY = MappingProxyType(_schedule_lookup())


def find_sampler(name: str) -> SamplerInfo:
    """Look a sampler up by display name or A1111 alias (``k_euler_a``...), case-insensitively."""
    info = _SAMPLERS_BY_KEY.get(str(name).strip().lower())
    if info is None:
        raise SamplerError(f"Unknown sampler {name!r}; valid names: {', '.join(sampler_names())}")
    return info


def find_schedule(name: str | None) -> ScheduleInfo:
    """Look a schedule type up by label, key or alias; empty or None means Automatic."""
    if name is None or not str(name).strip():
        return SCHEDULES[0]
    info = _SCHEDULES_BY_KEY.get(str(name).strip().lower())
    if info is None:
        labels = ", ".join(schedule.label for schedule in SCHEDULES)
        raise SamplerError(f"Unknown schedule type {name!r}; valid types: {labels}")
    return info


def resolve_sampler(
    name: str | None, scheduler: str | None = None, *, convert_automatic: bool = False
) -> tuple[SamplerInfo, str]:
    """Split a sampler name that carries its schedule ("DPM++ 2M Karras") into (sampler, schedule label).

    A schedule found in the name wins over ``scheduler`` (A1111's "Sampler Scheduler autocorrection").
    With ``convert_automatic`` (used when reading infotexts), a schedule equal to the sampler's own default
    becomes "Automatic". An empty name means the default sampler, "Euler".

    >>> info, schedule = resolve_sampler("DPM++ 2M SDE Exponential")
    >>> info.name, schedule
    ('DPM++ 2M SDE', 'Exponential')
    >>> resolve_sampler("k_lms", "karras")[0].name
    'LMS'
    """
    text = str(name).strip() if name else DEFAULT_SAMPLER
    schedule = find_schedule(scheduler)
    if text.lower() not in _SAMPLERS_BY_KEY:
        lowered = text.lower()
        for key, candidate in sorted(_SCHEDULES_BY_KEY.items(), key=lambda item: -len(item[0])):
            if lowered.endswith(" " + key) and lowered[: -len(key) - 1].strip() in _SAMPLERS_BY_KEY:
                log.info(
                    "Sampler Scheduler autocorrection: %r -> %r + %r", text, text[: -len(key) - 1], candidate.label
                )
                text, schedule = text[: -len(key) - 1].strip(), candidate
                break
    info = find_sampler(text)
    if convert_automatic and info.options.get("scheduler") == schedule.name:
        schedule = SCHEDULES[0]
    return info, schedule.label


# Samplers whose bare name meant the Uniform schedule before A1111 1.9 split schedules out of sampler names
# (1.8 listed "DPM++ 2M" and "DPM++ 2M Karras" as two samplers); 1.9+ gave them a Karras/Exponential default.
PRE_1_9_UNIFORM = frozenset(
    {"DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE", "DPM2", "DPM2 a"}
)


def schedule_for_request(info: SamplerInfo, schedule_label: str, scheduler_given: bool) -> str:
    """The schedule label for an API request: one that names no schedule at all (no ``scheduler`` field and
    none in the sampler name: a client written for A1111 1.8 or earlier) keeps what the sampler name meant
    then, so its saved requests give the same images; an explicit schedule, "Automatic" included, is kept.

    >>> schedule_for_request(find_sampler("DPM++ SDE"), "Automatic", scheduler_given=False)
    'Uniform'
    >>> schedule_for_request(find_sampler("DPM++ SDE"), "Automatic", scheduler_given=True)
    'Automatic'
    """
    if not scheduler_given and schedule_label == SCHEDULES[0].label and info.name in PRE_1_9_UNIFORM:
        return find_schedule("uniform").label
    return schedule_label


def automatic_schedule_name(info: SamplerInfo, schedule: str | None) -> str:
    """The schedule key actually used: the sampler's own default when the schedule is Automatic."""
    found = find_schedule(schedule)
    return info.automatic_schedule if found.name == "automatic" else found.name
