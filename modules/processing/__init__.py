def __getattr__(name: str):  # A1111's names for extensions (modules/extensions/compat_imports.py); core never uses them
    from modules.extensions.compat_imports import forward

    return forward("processing", name)
