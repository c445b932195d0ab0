"""Stand-in for ``pip`` on the ``PYTHONPATH`` of an extension's ``install.py`` (see ``pip_guard``)."""
