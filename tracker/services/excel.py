"""Compatibility home: the Excel workbooks now live in ``tracker.io.excel``."""

from tracker.io.excel import *  # noqa: F403
from tracker.io.excel import __all__, _limits  # noqa: F401
