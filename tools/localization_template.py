"""The translator's tool: every string of the interface as a language-file template, and what a file lacks.

    # a template to start a new language (English -> ""), in page order:
    python tools/localization_template.py --output localizations/xx_XX.json
    # the same, keeping what an existing file already translates (to update it after the UI changed; its
    # other keys are kept at the end):
    python tools/localization_template.py --output new.json --fill-from localizations/zh_CN.json
    # which strings a language lacks (exit code 1 when any); a name means all its files, merged:
    python tools/localization_template.py --check zh_CN
    # also walk the running page in Chromium, for text Gradio's frontend adds by itself (slower):
    python tools/localization_template.py --check zh_CN --browser

The strings are collected from the interface built exactly as the server builds it (extensions included),
without serving it; see tools/localization/README.md. Keys with {placeholders} are patterns that match
messages composed at run time.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("localization_template")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--output", "-o", type=Path, help="write a template JSON here")
    parser.add_argument("--fill-from", type=Path, help="language file whose translations pre-fill the template")
    parser.add_argument("--check", metavar="LANGUAGE", help="a language name (zh_CN) or a file: list what it lacks")
    parser.add_argument("--browser", action="store_true", help="also walk the running page in Chromium")
    parser.add_argument("--server-args", default="", help="extra webui.py flags for building the interface")
    parser.add_argument("--verbose", "-v", action="store_true", help="show where each missing string is used")
    return parser.parse_args(argv)


def browser_strings(server_args: list[str]) -> list[str]:
    """Start webui.py on a free port with a scratch data folder, walk the page in Chromium, return the strings."""
    import socket
    import subprocess
    import time
    import urllib.request

    from tools.localization.page_walk import walk

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as data_dir:
        command = [sys.executable, str(ROOT / "webui.py"), "--port", str(port), "--data-dir", data_dir, *server_args]
        server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("webui.py did not start") from None
                    time.sleep(0.3)
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                result = walk(page, f"http://127.0.0.1:{port}/")
                browser.close()
            return result.seen
        finally:
            server.terminate()
            server.wait(timeout=15)


def language_strings(spec: str, backend) -> dict:
    """A language by name (all its files merged, as the page gets it) or one file by path."""
    path = Path(spec)
    if path.suffix.lower() == ".json" and path.exists():
        from modules.localization.catalog import read_language_file

        return read_language_file(path)
    catalog = backend.localization
    if spec not in catalog.names():
        raise SystemExit(f"No language {spec!r}; known: {', '.join(catalog.names()) or 'none'}")
    return catalog.strings(spec)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not (args.output or args.check):
        sys.stderr.write("Nothing to do: give --output and/or --check (see --help)\n")
        return 2
    from tools.localization.inventory import build_collection_backend, interface_strings
    from tools.localization.lookup import Translator

    with tempfile.TemporaryDirectory() as scratch:
        server_args = args.server_args.split()
        if "--data-dir" not in server_args:
            server_args += ["--data-dir", scratch]
        backend = build_collection_backend(server_args)
        items = interface_strings(backend)
        where: dict[str, list[str]] = {}
        for item in items:
            where.setdefault(item.text, []).append(item.where)
        if args.browser:
            patterns = Translator({text: text for text in where if "{" in text})
            for text in browser_strings(args.server_args.split()):
                if text not in where and patterns.translate(text) is None:  # not one of the known patterns
                    where.setdefault(text, []).append("page")
        texts = list(where)

        if args.output:
            known = language_strings(str(args.fill_from), backend) if args.fill_from else {}
            template = {text: known.get(text, "") for text in texts}
            if known.get("rtl"):
                template = {"rtl": True, **template}
            # translations of strings this build does not show (other extensions, other states) are kept, last
            kept = {key: value for key, value in known.items() if key not in template}
            template.update(kept)
            args.output.write_text(json.dumps(template, ensure_ascii=False, indent=4) + "\n", encoding="utf-8")
            note = f" ({len(kept)} kept from --fill-from that this build does not show)" if kept else ""
            sys.stderr.write(f"{len(template)} strings written to {args.output}{note}\n")

        if args.check:
            strings = language_strings(args.check, backend)
            missing = Translator(strings).missing(texts)
            for text in missing:
                suffix = f"    ({', '.join(where[text][:3])})" if args.verbose else ""
                sys.stdout.write(json.dumps(text, ensure_ascii=False) + suffix + "\n")
            covered = len(texts) - len(missing)
            sys.stderr.write(
                f"{args.check}: {covered}/{len(texts)} interface strings translated, {len(missing)} missing\n"
            )
            return 1 if missing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
