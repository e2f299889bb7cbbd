"""The mnist reader lives in gan_eval.datasets.mnist (the core reads named datasets); this name is the same module."""

import sys

from gan_eval.datasets import mnist as _module

sys.modules[__name__] = _module
