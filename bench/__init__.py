"""Benchmarks of the lag check and of the API/dashboard, with their floors.

Outside the installed package (``pyproject.toml`` installs ``tracker`` and ``config`` only):
production never imports this. The floor views are mounted by ``bench.urls``, which only
``bench.settings`` uses. Run with ``python -m bench.lag …`` and ``python -m bench.api …``.
"""
