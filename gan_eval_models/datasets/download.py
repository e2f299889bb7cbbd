"""The download reader lives in gan_eval.datasets.download (the core reads named datasets); this name is the same module."""

import sys

from gan_eval.datasets import download as _module

sys.modules[__name__] = _module
