"""The cifar10 reader lives in gan_eval.datasets.cifar10 (the core reads named datasets); this name is the same module."""

import sys

from gan_eval.datasets import cifar10 as _module

sys.modules[__name__] = _module
