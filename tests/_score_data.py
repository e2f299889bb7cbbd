"""Shared, computed-once data for the score, cache and streaming tests.

CPU passes of the Inception network are slow (~0.5 s per image on two shared cores), so the tests
use 6 real and 6 fake fixture images, run the random-weight network over them once per session
(`warm`), and replace the network by a cheap deterministic stand-in (`FakeNet`) where only the
plumbing around it is under test.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

N_IMAGES = 6  # density/coverage (k = 5) needs at least 6 real images
SMALL = dict(kid_subsets=5, kid_subset_size=4, is_splits=2)  # protocol sizes that fit 6 images
SMALL_CLI = ["--kid-subsets", "5", "--kid-subset-size", "4", "--is-splits", "2"]

_STATE = {}


def copy_images(src, dest, n=N_IMAGES):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for p in sorted(Path(src).glob("*.png"))[:n]:
        shutil.copy2(p, dest / p.name)
    return dest


def warm(tmp_path_factory, fixtures_dir, weights):
    """Folders of 6 real and 6 fake images, a feature cache holding both (from one real-network
    `score` run), that run's result, and the cached features and statistics of both sides.
    Computed once per session."""
    if not _STATE:
        from gan_eval.evaluate import score

        root = tmp_path_factory.mktemp("warm")
        real = copy_images(fixtures_dir / "real", root / "real")
        fake = copy_images(fixtures_dir / "fake", root / "fake")
        cache = root / "cache"
        saved = os.environ.get("GAN_EVAL_CACHE")
        os.environ["GAN_EVAL_CACHE"] = str(cache)
        try:
            result = score(real, fake, weights=weights, progress=False, quiet=True, **SMALL)
            from gan_eval import cache as feature_cache

            entries = {side: feature_cache.find(str(path.resolve())) for side, path in (("real", real), ("fake", fake))}
        finally:
            if saved is None:
                del os.environ["GAN_EVAL_CACHE"]
            else:
                os.environ["GAN_EVAL_CACHE"] = saved
        _STATE.update(real=real, fake=fake, cache=cache, result=result,
                      features={side: e.features for side, e in entries.items()},
                      stats={side: e.stats for side, e in entries.items()})
    return dict(_STATE)


def use_warm_cache(warm_state, tmp_path, monkeypatch):
    """Point GAN_EVAL_CACHE at a private copy of the warm cache."""
    dest = tmp_path / "warm_cache"
    shutil.copytree(warm_state["cache"], dest)
    monkeypatch.setenv("GAN_EVAL_CACHE", str(dest))
    return dest


class FakeNet(torch.nn.Module):
    """Stands in for the Inception network: pool3 = 27 x 27 average pools of the input (first 2048
    values), logits = a scaled slice of them. Per-sample and elementwise, so any batching gives the
    same bits. Counts its calls."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.images = 0

    def forward(self, x, outputs=("pool3",)):
        self.calls += 1
        self.images += x.shape[0]
        pool3 = F.adaptive_avg_pool2d(x, (27, 27)).flatten(1)[:, :2048] * 10.0
        out = {}
        if "pool3" in outputs:
            out["pool3"] = pool3
        if "logits_unbiased" in outputs:
            out["logits_unbiased"] = pool3[:, :1008] * 0.5
        if "logits" in outputs:
            out["logits"] = pool3[:, :1008] * 0.5 + 0.1
        return out


def install_fake_net(monkeypatch):
    """Replace the network of every extraction path (files and in-memory batches) by a FakeNet."""
    from gan_eval.features import extract

    net = FakeNet()
    monkeypatch.setattr(extract, "_model_on", lambda loaded, device: net)
    return net


def forbid_network(monkeypatch):
    """Make any network pass fail the test."""
    from gan_eval import evaluate
    from gan_eval.features import extract

    def boom(*args, **kwargs):
        raise AssertionError("the network ran")

    monkeypatch.setattr(evaluate, "iter_features", boom)
    monkeypatch.setattr(extract, "_model_on", boom)


def images_of(folder):
    from gan_eval.inputs import load_images

    return load_images(folder)


def as_float(images):
    return torch.from_numpy(np.asarray(images)).float() / 255.0
