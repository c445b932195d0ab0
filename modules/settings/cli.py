"""Command-line flags, with A1111's names and meanings, parsed in one place.

``build_parser`` is used by both ``launch.py`` (which only needs the launcher flags and passes the rest on)
and ``webui.py``. Extensions add flags through their ``preload.py`` by receiving the parser before parsing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py",
        description="Stable Diffusion WebUI: a fast, offline, A1111-compatible browser UI.",
        epilog="python launch.py --test [pytest arguments]: install the test requirements and run the test suite.",
        allow_abbrev=False,
    )
    server = parser.add_argument_group("server")
    server.add_argument("--port", type=int, default=None, help="port to serve on (default 7860; 7861 with --nowebui)")
    server.add_argument(
        "--listen", action="store_true", help="bind 0.0.0.0 so other machines on the network can connect"
    )
    server.add_argument(
        "--server-name", type=str, default=None, help="host name or IP address to bind (makes the UI non-local)"
    )
    server.add_argument(
        "--share",
        action="store_true",
        help="not available offline: refused with an explanation (A1111's Gradio share tunnel)",
    )
    server.add_argument("--api", action="store_true", help="serve A1111's HTTP API under /sdapi/v1 alongside the UI")
    server.add_argument("--nowebui", action="store_true", help="serve only the HTTP API (port 7861 by default)")
    server.add_argument(
        "--api-auth", type=str, default=None, help="user:pass[,user2:pass2] required (HTTP Basic) on every API route"
    )
    server.add_argument("--api-log", action="store_true", help="log every API request")
    server.add_argument(
        "--gradio-auth", type=str, default=None, help="user:pass[,user2:pass2] login required for the web UI"
    )
    server.add_argument(
        "--autolaunch", action="store_true", help="open the UI in the system's default browser once it is up"
    )
    server.add_argument(
        "--theme", type=str, choices=["light", "dark"], default=None, help="force the light or dark theme"
    )
    server.add_argument(
        "--enable-insecure-extension-access",
        action="store_true",
        help="allow installing/enabling extensions, and changing folder settings, even when the server is "
        "reachable from other machines",
    )
    server.add_argument(
        "--hide-ui-dir-config",
        action="store_true",
        help="folder settings cannot be changed from the page or the API (always on with --listen/--server-name)",
    )

    paths = parser.add_argument_group("paths")
    paths.add_argument(
        "--data-dir",
        type=str,
        default=None,
        help="root for user data: models, extensions, outputs, config (default: the program folder)",
    )
    paths.add_argument(
        "--models-dir", type=str, default=None, help="root of the model folders (default: <data-dir>/models)"
    )
    paths.add_argument("--ckpt", type=str, default=None, help="checkpoint to load at start-up (added to the list)")
    paths.add_argument("--ckpt-dir", type=str, default=None, help="extra folder scanned for checkpoints")
    paths.add_argument("--vae-dir", type=str, default=None, help="extra folder scanned for VAE files")
    paths.add_argument("--lora-dir", type=str, default=None, help="folder of LoRA files (default: <models-dir>/Lora)")
    paths.add_argument(
        "--hypernetwork-dir",
        type=str,
        default=None,
        help="folder of hypernetwork .pt files (default: <models-dir>/hypernetworks)",
    )
    paths.add_argument(
        "--embeddings-dir",
        type=str,
        default=None,
        help="folder of textual-inversion embeddings (default: <data-dir>/embeddings)",
    )
    paths.add_argument(
        "--ui-settings-file", type=str, default=None, help="settings file (default: <data-dir>/config.json)"
    )
    paths.add_argument(
        "--ui-config-file", type=str, default=None, help="UI defaults file (default: <data-dir>/ui-config.json)"
    )
    paths.add_argument(
        "--styles-file", type=str, default=None, help="prompt styles CSV (default: <data-dir>/styles.csv)"
    )
    paths.add_argument(
        "--clip-models-path",
        type=str,
        default=None,
        help="folder of the CLIP ViT-L/14 file Interrogate CLIP uses (default: <models-dir>/CLIP)",
    )
    paths.add_argument(
        "--localizations-dir", type=str, default=None, help="folder of language files (default: localizations/)"
    )

    device = parser.add_argument_group("device and precision")
    device.add_argument(
        "--use-cpu",
        nargs="*",
        default=None,
        metavar="MODULE",
        help="run on the CPU even when a GPU exists (A1111 accepts module names; any value means all)",
    )
    device.add_argument("--device-id", type=int, default=None, help="CUDA device index to use")
    device.add_argument(
        "--skip-torch-cuda-test", action="store_true", help="start even when no working GPU is found (the CPU is used)"
    )
    device.add_argument(
        "--precision",
        type=str,
        choices=["full", "half", "autocast", "bf16"],
        default="autocast",
        help="evaluation precision: full = fp32; half/autocast = fp16 on CUDA; bf16",
    )
    device.add_argument("--no-half", action="store_true", help="keep the UNet and text encoder in fp32")
    device.add_argument("--no-half-vae", action="store_true", help="keep the VAE in fp32")
    device.add_argument(
        "--medvram", action="store_true", help="keep only the active model part (text encoder, UNet or VAE) on the GPU"
    )
    device.add_argument(
        "--lowvram", action="store_true", help="move UNet blocks to the GPU one at a time (slow, very little VRAM)"
    )
    device.add_argument(
        "--xformers", action="store_true", help="use xformers attention when it is installed (CUDA only)"
    )
    device.add_argument(
        "--opt-sdp-attention", action="store_true", help="use torch scaled-dot-product attention (the default)"
    )

    workers = parser.add_argument_group("scale-out (Ray Serve)")
    workers.add_argument(
        "--workers",
        type=str,
        choices=["local", "ray"],
        default="local",
        help="where images are generated: local = this process (default); ray = Ray Serve replicas",
    )
    workers.add_argument(
        "--worker-count",
        type=int,
        default=None,
        metavar="N",
        help="with --workers ray: N replicas (default: one per visible GPU, else 1; on CPU each gets 1 CPU and 1 "
        "torch thread)",
    )
    workers.add_argument(
        "--ray-address",
        type=str,
        default=None,
        metavar="ADDRESS",
        help="with --workers ray: join this Ray cluster (e.g. head-node:6379 or auto) instead of starting one",
    )

    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument(
        "--disable-safe-unpickle",
        action="store_true",
        help="DANGEROUS: load .ckpt files with plain pickle, which can run code",
    )
    behaviour.add_argument("--freeze-settings", action="store_true", help="make settings read-only (UI and API)")
    behaviour.add_argument("--no-hashing", action="store_true", help="never compute sha256 of checkpoints")
    behaviour.add_argument(
        "--disable-all-extensions", action="store_true", help="load no extension (built-in ones included)"
    )
    behaviour.add_argument(
        "--disable-extra-extensions", action="store_true", help="load only the extensions shipped with the program"
    )
    behaviour.add_argument("--loglevel", type=str, default="INFO", help="log level: DEBUG, INFO, WARNING, ERROR")

    launcher = parser.add_argument_group("launcher (launch.py)")
    launcher.add_argument("--skip-install", action="store_true", help="do not check or install requirements")
    launcher.add_argument("--skip-venv", action="store_true", help="run with the current Python instead of venv/")
    return parser


def parse_flags(
    argv: Sequence[str] | None = None,
    extra: Sequence[Callable[[argparse.ArgumentParser], None]] = (),
) -> argparse.Namespace:
    """Parse the command line; ``extra`` are extension ``preload(parser)`` functions adding their own flags."""
    parser = build_parser()
    for add_flags in extra:
        add_flags(parser)
    return parser.parse_args(argv)


def is_non_local(flags: argparse.Namespace) -> bool:
    """True when other machines can reach the server (A1111's ``webui_is_non_local``)."""
    return bool(flags.listen or flags.share or flags.server_name)


def server_port(flags: argparse.Namespace) -> int:
    if flags.port is not None:
        return flags.port
    return 7861 if flags.nowebui else 7860


def server_host(flags: argparse.Namespace) -> str:
    if flags.server_name:
        return flags.server_name
    return "0.0.0.0" if flags.listen else "127.0.0.1"


def parse_credentials(text: str | None) -> list[tuple[str, str]]:
    """``"u:p,u2:p2"`` → ``[("u", "p"), ("u2", "p2")]``; a password may itself contain ':'."""
    pairs: list[tuple[str, str]] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user:
            raise ValueError(f"credentials must look like user:password, got {item!r}")
        pairs.append((user, password))
    return pairs
