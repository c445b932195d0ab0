"""``python -m pip ...`` from an extension's ``install.py``: the real pip, under the app's constraints."""

import sys

from modules.extensions.pip_guard import install_guarded

sys.exit(install_guarded(sys.argv[1:]))
