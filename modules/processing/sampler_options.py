"""Settings the samplers and the denoise loop read (A1111 1.10 keys, labels, ranges and infotext names)."""

from __future__ import annotations

from types import MappingProxyType

from modules.processing.samplers import sampler_names
from modules.settings.registry import OptionInfo
from modules.settings.sections import OPTIMIZATIONS, SAMPLER_PARAMS

OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo("hide_samplers", [], "Hide samplers in user interface", SAMPLER_PARAMS, "multiselect",
               choices=sampler_names, needs_reload_ui=True),
    OptionInfo("eta_ddim", 0.0, "Eta for DDIM", SAMPLER_PARAMS, "slider", minimum=0.0, maximum=1.0, step=0.01,
               infotext="Eta DDIM", info="noise multiplier; higher = more unpredictable results"),
    OptionInfo("eta_ancestral", 1.0, "Eta for k-diffusion samplers", SAMPLER_PARAMS, "slider", minimum=0.0,
               maximum=1.0, step=0.01, infotext="Eta",
               info="noise multiplier; currently only applies to ancestral samplers (i.e. Euler a) and SDE samplers"),
    OptionInfo("s_churn", 0.0, "sigma churn", SAMPLER_PARAMS, "slider", minimum=0.0, maximum=100.0, step=0.01,
               infotext="Sigma churn", info="amount of stochasticity; only applies to Euler, Heun, and DPM2"),
    OptionInfo("s_tmin", 0.0, "sigma tmin", SAMPLER_PARAMS, "slider", minimum=0.0, maximum=10.0, step=0.01,
               infotext="Sigma tmin",
               info="enable stochasticity; start value of the sigma range; only applies to Euler, Heun, and DPM2"),
    OptionInfo("s_tmax", 0.0, "sigma tmax", SAMPLER_PARAMS, "slider", minimum=0.0, maximum=999.0, step=0.01,
               infotext="Sigma tmax",
               info="0 = inf; end value of the sigma range; only applies to Euler, Heun, and DPM2"),
    OptionInfo("s_noise", 1.0, "sigma noise", SAMPLER_PARAMS, "slider", minimum=0.0, maximum=1.1, step=0.001,
               infotext="Sigma noise",
               info="amount of additional noise to counteract loss of detail during sampling"),
    OptionInfo("sigma_min", 0.0, "sigma min", SAMPLER_PARAMS, "slider", minimum=0.0, maximum=2.0, step=0.001,
               infotext="Schedule min sigma",
               info="0 = default (~0.03); minimum noise strength for k-diffusion noise scheduler"),
    OptionInfo("sigma_max", 0.0, "sigma max", SAMPLER_PARAMS, "slider", minimum=0.0, maximum=60.0, step=0.001,
               infotext="Schedule max sigma",
               info="0 = default (~14.6); maximum noise strength for k-diffusion noise scheduler"),
    OptionInfo("rho", 0.0, "rho", SAMPLER_PARAMS, "number", infotext="Schedule rho",
               info="0 = default (7 for karras, 1 for polyexponential); higher values result in a steeper noise "
                    "schedule (decreases faster)"),
    OptionInfo("always_discard_next_to_last_sigma", False, "Always discard next-to-last sigma", SAMPLER_PARAMS,
               "checkbox", infotext="Discard penultimate sigma"),
    OptionInfo("sgm_noise_multiplier", False, "SGM noise multiplier", SAMPLER_PARAMS, "checkbox",
               infotext="SGM noise multiplier",
               info="Match initial noise to official SDXL implementation - only useful for reproducing images"),
    OptionInfo("uni_pc_variant", "bh1", "UniPC variant", SAMPLER_PARAMS, "radio", choices=("bh1", "bh2"),
               infotext="UniPC variant"),
    OptionInfo("uni_pc_order", 3, "UniPC order", SAMPLER_PARAMS, "slider", minimum=1, maximum=50, step=1,
               infotext="UniPC order", info="must be < sampling steps"),
    OptionInfo("uni_pc_lower_order_final", True, "UniPC lower order final", SAMPLER_PARAMS, "checkbox",
               infotext="UniPC lower order final"),
    OptionInfo("sd_noise_schedule", "Default", "Noise schedule for sampling", SAMPLER_PARAMS, "radio",
               choices=("Default", "Zero Terminal SNR"), infotext="Noise Schedule",
               info="for use with zero terminal SNR trained models"),
    OptionInfo("skip_early_cond", 0.0, "Ignore negative prompt during early sampling", SAMPLER_PARAMS, "slider",
               minimum=0.0, maximum=1.0, step=0.01, infotext="Skip Early CFG",
               info="disables CFG on a proportion of steps at the beginning of generation; 0=skip none; 1=skip all"),
    OptionInfo("beta_dist_alpha", 0.6, "Beta scheduler - alpha", SAMPLER_PARAMS, "slider", minimum=0.01,
               maximum=1.0, step=0.01, infotext="Beta scheduler alpha",
               info="Default = 0.6; the alpha parameter of the beta distribution used in Beta sampling"),
    OptionInfo("beta_dist_beta", 0.6, "Beta scheduler - beta", SAMPLER_PARAMS, "slider", minimum=0.01,
               maximum=1.0, step=0.01, infotext="Beta scheduler beta",
               info="Default = 0.6; the beta parameter of the beta distribution used in Beta sampling"),
    OptionInfo("batch_cond_uncond", True, "Batch cond/uncond", OPTIMIZATIONS, "checkbox",
               info="do both conditional and unconditional denoising in one batch; uses a bit more VRAM during "
                    "sampling, but improves speed"),
    OptionInfo("s_min_uncond", 0.0, "Negative Guidance minimum sigma", OPTIMIZATIONS, "slider", minimum=0.0,
               maximum=15.0, step=0.01, infotext="NGMS",
               info="skip negative prompt for some steps when the image is almost ready; 0=disable, higher=faster"),
    OptionInfo("s_min_uncond_all", False, "Negative Guidance minimum sigma all steps", OPTIMIZATIONS, "checkbox",
               infotext="NGMS all steps",
               info="By default, NGMS above skips every other step; this makes it skip all steps"),
)

DEFAULTS = MappingProxyType({option.key: option.default for option in OPTIONS})
