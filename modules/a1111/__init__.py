"""A1111 1.10's module surface for unchanged extensions: thin facades over the current Backend.

Extensions written for AUTOMATIC1111 import ``modules.shared``, ``modules.processing``, ``launch`` ... Each
facade here resolves what it returns at call time through ``modules.extensions.bridge`` (the context of the
extension being loaded or run, else the program context of the Backend that loaded extensions), so nothing
here is state the core reads, and the core never imports this package. How the A1111 names reach these
modules is described in ``modules/extensions/compat_imports.py``.
"""
