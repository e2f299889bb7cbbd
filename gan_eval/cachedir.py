"""Where gan-eval keeps its files: $GAN_EVAL_CACHE, else ~/.cache/gan_eval."""

import os
from pathlib import Path


def cache_dir():
    root = os.environ.get("GAN_EVAL_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "gan_eval"
