"""The commands' flag and input checks, under their former name: the code is :mod:`audiogen.checks`."""

from audiogen.checks import *  # noqa: F403
from audiogen.checks import __all__  # noqa: F401
