"""Long audio in bounded memory, under its former name: the code is :mod:`audiogen.pipelines.longform`."""

from audiogen.pipelines.longform import *  # noqa: F403
from audiogen.pipelines.longform import __all__  # noqa: F401
