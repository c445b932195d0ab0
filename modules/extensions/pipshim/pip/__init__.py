"""Stand-in for ``pip`` on the ``PYTHONPATH`` of an extension's ``install.py`` (see ``pip_guard``).

``python -m pip`` runs this package's ``__main__`` (the guard). Everything else is the real pip: its package
folder is appended to this package's path (so ``pip._internal`` and the ``pip`` console script work) and its
``__init__`` runs here (``pip.__version__``, ``pip.main``). The ``PIP_CONSTRAINT`` the installer sets still
holds the app's packages on those paths; only the retry without conflicting extras is the guard's own.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
for _entry in sys.path:
    _real = os.path.join(_entry or os.getcwd(), "pip")
    _init = os.path.join(_real, "__init__.py")
    if os.path.abspath(_real) != _here and os.path.isfile(_init):
        __path__.append(_real)  # noqa: F821 (a package's __path__)
        with open(_init, encoding="utf-8") as _source:
            exec(compile(_source.read(), _init, "exec"))  # noqa: S102 (the real pip's own __init__)
        break
