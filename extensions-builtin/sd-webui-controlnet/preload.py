"""Command-line flags of the ControlNet extension (A1111's extension's names)."""


def preload(parser):
    group = parser.add_argument_group("ControlNet extension")
    group.add_argument(
        "--controlnet-dir",
        type=str,
        default=None,
        help="extra folder scanned for ControlNet models (besides models/ControlNet)",
    )
    group.add_argument(
        "--controlnet-annotator-models-path",
        type=str,
        default=None,
        help="folder of preprocessor (annotator) weights; default: the extension's annotator/downloads",
    )
    group.add_argument(
        "--no-half-controlnet",
        action="store_true",
        help="run ControlNet models in fp32 even when the checkpoint runs in fp16",
    )
