"""Request and response schemas of A1111's generation, extras, PNG info and progress routes.

Written by hand with A1111 1.10's field names and *API* defaults (steps 50, sampler "Euler", masked content
"fill", inpaint area "only masked"...), which differ from the UI's. Nearly every field accepts ``null`` as A1111's
generated models did; ``null`` means "the default". Unknown fields are ignored, and NaN/Infinity are refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SEED_MAX = 2**32 - 1


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class GenerationRequest(ApiModel):
    """Fields shared by txt2img and img2img (A1111 ``StableDiffusionProcessing``)."""

    prompt: str | None = Field("", description="What to draw; prompt syntax as in the UI")
    negative_prompt: str | None = Field("", description="What to avoid")
    styles: list[str] | None = Field(None, description="Names of prompt styles (styles.csv) to apply")
    seed: int | None = Field(-1, ge=-1, le=SEED_MAX, description="-1 for a random seed")
    subseed: int | None = Field(-1, ge=-1, le=SEED_MAX, description="Variation seed; -1 for random")
    subseed_strength: float | None = Field(0.0, description="Variation strength, 0-1")
    seed_resize_from_h: int | None = Field(-1, ge=-1, le=8192, description="Resize seed from height (<= 0: off)")
    seed_resize_from_w: int | None = Field(-1, ge=-1, le=8192, description="Resize seed from width (<= 0: off)")
    sampler_name: str | None = Field(None, description="Sampler; 'DPM++ 2M Karras'-style names work too")
    sampler_index: str | None = Field("Euler", description="Deprecated alias of sampler_name")
    scheduler: str | None = Field(None, description="Schedule type (Automatic, Karras, Exponential...)")
    batch_size: int | None = Field(1, description="Images per batch, 1-8")
    n_iter: int | None = Field(1, description="Batch count")
    steps: int | None = Field(50, description="Sampling steps, 1-150")
    cfg_scale: float | None = Field(7.0, description="Classifier-free guidance scale")
    width: int | None = Field(512, description="Multiple of 8, 64-2048")
    height: int | None = Field(512, description="Multiple of 8, 64-2048")
    restore_faces: bool | None = Field(None, description="Restore faces (None: the face_restoration setting)")
    tiling: bool | None = Field(None, description="Seamless tiling")
    do_not_save_samples: bool | None = Field(False, description="Overridden by save_images")
    do_not_save_grid: bool | None = Field(False, description="Overridden by save_images")
    eta: float | None = Field(None, ge=0, le=1000, description="Noise multiplier of ancestral/DDIM samplers")
    denoising_strength: float | None = Field(None, description="0-1")
    s_min_uncond: float | None = Field(None, description="Negative guidance minimum sigma (setting overlay)")
    s_churn: float | None = Field(None, ge=0, le=1000)
    s_tmax: float | None = Field(None, ge=0, le=1e6)
    s_tmin: float | None = Field(None, ge=0, le=1e6)
    s_noise: float | None = Field(None, ge=0, le=1000)
    override_settings: dict[str, Any] | None = Field(None, description="Settings for this request only")
    override_settings_restore_afterwards: bool | None = Field(
        True, description="False keeps override_settings as the current settings afterwards (not saved)"
    )
    refiner_checkpoint: str | None = Field(None, description="Checkpoint that takes over at refiner_switch_at")
    refiner_switch_at: float | None = Field(
        None, ge=0, le=1, description="Fraction of the steps after which the refiner takes over"
    )
    disable_extra_networks: bool | None = False
    firstpass_image: str | None = Field(None, description="Not supported yet; ignored")
    comments: dict[str, Any] | None = None
    token_merging_ratio: float | None = Field(0.0, description="Ignored")
    token_merging_ratio_hr: float | None = Field(0.0, description="Ignored")
    user: str | None = None
    script_name: str | None = Field(None, description="Title of a selectable script to run")
    script_args: list[Any] | None = Field(default_factory=list, description="That script's arguments, in order")
    send_images: bool | None = Field(True, description="Return the images in the response")
    save_images: bool | None = Field(False, description="Save the images to the output folders")
    alwayson_scripts: dict[str, Any] | None = Field(
        default_factory=dict, description='{"<script title>": {"args": [...]}}, titles case-insensitive'
    )
    force_task_id: str | None = Field(
        None, description="Id for the job in the shared queue (A1111 uses it to follow progress)"
    )
    infotext: str | None = Field(None, description="An infotext whose values fill the fields not given")


class Txt2ImgRequest(GenerationRequest):
    """POST /sdapi/v1/txt2img (A1111 ``StableDiffusionProcessingTxt2Img``)."""

    denoising_strength: float | None = Field(0.75, description="Hires fix denoising strength, 0-1")
    enable_hr: bool | None = Field(False, description="Hires. fix")
    firstphase_width: int | None = Field(0, ge=0, le=8192, description="Legacy hires fix: first pass width")
    firstphase_height: int | None = Field(0, ge=0, le=8192, description="Legacy hires fix: first pass height")
    hr_scale: float | None = Field(2.0, description="Hires upscale factor")
    hr_upscaler: str | None = Field(None, description="Latent mode or upscaler name (default: Latent)")
    hr_second_pass_steps: int | None = Field(0, ge=0, le=150, description="0 = same as steps")
    hr_resize_x: int | None = Field(0, ge=0, le=8192, description="Resize width to (0: use hr_scale)")
    hr_resize_y: int | None = Field(0, ge=0, le=8192, description="Resize height to (0: use hr_scale)")
    hr_checkpoint_name: str | None = Field(
        None, description='Checkpoint of the second pass ("Use same checkpoint": the first pass\'s)'
    )
    hr_sampler_name: str | None = Field(None, description="Hires sampler (default: same sampler)")
    hr_scheduler: str | None = Field(None, description="Hires schedule type (default: same)")
    hr_prompt: str | None = ""
    hr_negative_prompt: str | None = ""


class Img2ImgRequest(GenerationRequest):
    """POST /sdapi/v1/img2img (A1111 ``StableDiffusionProcessingImg2Img``)."""

    init_images: list[str] | None = Field(None, description="Base64 images (or data: URLs)")
    resize_mode: int | None = Field(
        0, description="0 Just resize, 1 Crop and resize, 2 Resize and fill, 3 Just resize (latent upscale)"
    )
    denoising_strength: float | None = Field(0.75, description="0-1")
    image_cfg_scale: float | None = None
    mask: str | None = Field(None, description="Base64 mask; white = repaint")
    mask_blur_x: int | None = Field(4, ge=0, le=512)
    mask_blur_y: int | None = Field(4, ge=0, le=512)
    mask_blur: int | None = Field(None, ge=0, le=512, description="Sets mask_blur_x and mask_blur_y")
    mask_round: bool | None = True
    inpainting_fill: int | None = Field(0, description="0 fill, 1 original, 2 latent noise, 3 latent nothing")
    inpaint_full_res: bool | None = Field(True, description="Inpaint area: True = only masked")
    inpaint_full_res_padding: int | None = Field(0, ge=0, le=2048, description="Only masked padding, pixels")
    inpainting_mask_invert: int | None = Field(0, ge=0, le=1, description="0 inpaint masked, 1 inpaint not masked")
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool | None = Field(False, description="Echo init_images and mask in `parameters`")


class ImagesResponse(ApiModel):
    images: list[str] | None = Field(None, description="The generated images, base64 PNG")
    parameters: dict[str, Any]
    info: str = Field(description="JSON string: seeds, prompts, infotexts...")


class TextToImageResponse(ImagesResponse):
    pass


class ImageToImageResponse(ImagesResponse):
    pass


class ExtrasBaseRequest(ApiModel):
    resize_mode: Literal[0, 1] = Field(0, description="0 scale by upscaling_resize, 1 scale to w x h")
    show_extras_results: bool = True
    gfpgan_visibility: float = Field(0, ge=0, le=1, description="GFPGAN face restoration blend (models/GFPGAN)")
    codeformer_visibility: float = Field(0, ge=0, le=1, description="CodeFormer blend (models/Codeformer)")
    codeformer_weight: float = Field(0, ge=0, le=1, description="CodeFormer weight (0 = maximum effect)")
    upscaling_resize: float = Field(2, gt=0, le=8, description="Scale factor (resize_mode 0)")
    upscaling_resize_w: int = Field(512, ge=1, le=8192, description="Target width (resize_mode 1)")
    upscaling_resize_h: int = Field(512, ge=1, le=8192, description="Target height (resize_mode 1)")
    upscaling_crop: bool = Field(True, description="Crop to fit (resize_mode 1)")
    upscaler_1: str = Field("None", description="Main upscaler (see /sdapi/v1/upscalers)")
    upscaler_2: str = Field("None", description="Secondary upscaler")
    extras_upscaler_2_visibility: float = Field(0, ge=0, le=1)
    upscale_first: bool = False


class ExtrasSingleImageRequest(ExtrasBaseRequest):
    image: str = Field("", description="Base64 image")


class ExtrasSingleImageResponse(ApiModel):
    html_info: str
    image: str | None = Field(None, description="Base64 PNG")


class FileData(ApiModel):
    data: str = Field(description="Base64 image")
    name: str


class ExtrasBatchImagesRequest(ExtrasBaseRequest):
    imageList: list[FileData] = Field(description="Images to process")  # noqa: N815 (A1111's name)


class ExtrasBatchImagesResponse(ApiModel):
    html_info: str
    images: list[str]


class PNGInfoRequest(ApiModel):
    image: str = Field(description="Base64 image (PNG, JPEG or WebP)")


class PNGInfoResponse(ApiModel):
    info: str = Field(description="The infotext")
    items: dict[str, Any] = Field(default_factory=dict, description="Other metadata of the image")
    parameters: dict[str, Any] = Field(default_factory=dict, description="The infotext, parsed")


class ProgressResponse(ApiModel):
    progress: float = Field(description="0-1")
    eta_relative: float = Field(description="Seconds left (estimate)")
    state: dict[str, Any]
    current_image: str | None = Field(None, description="Live preview, base64 PNG")
    textinfo: str | None = None
    current_task: str | None = None


class InterrogateRequest(ApiModel):
    image: str = ""
    model: str = "clip"


class InterrogateResponse(ApiModel):
    caption: str | None = None
