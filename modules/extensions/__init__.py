"""Extensions: discovery, install, loading, the Script API and callbacks (see README.md)."""


def __getattr__(name: str):  # A1111's names for extensions (compat_imports.py); the core never uses them
    from modules.extensions.compat_imports import forward

    return forward("extensions", name)
