"""Scale-out: generation on Ray Serve replicas (``--workers ray``), the front process keeping everything else.

Nothing here imports Ray at module level; ``ray_runner`` and ``replica`` do so only when ``--workers ray`` is
given, so the default start-up stays as it is. See ``README.md`` in this folder.
"""
