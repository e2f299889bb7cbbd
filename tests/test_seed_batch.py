"""Seed-batched training of the 2-D GAN: equal to separate trainer runs of the same seeds, exact
resume in chunks, PacGAN's protocol (fixed training set, per-slot G), sampling from exported runs."""

import json

import numpy as np
import pytest
import torch

from gan_eval.errors import GanEvalError
from gan_eval_models.checkpoint import load_checkpoint
from gan_eval_models.sample import sample
from gan_eval_models.seed_batch import PAPER_TRAIN_SET, SeedBatch, read_curve, train_seeds
from gan_eval_models.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")


def _separate(tmp_path, seed, steps, **kw):
    train(TrainConfig("gan2014", "ring", steps=steps, out=str(tmp_path / f"s{seed}"), seed=seed, quiet=True,
                      checkpoint_every=steps, **kw))
    return load_checkpoint(tmp_path / f"s{seed}" / "checkpoint.pt")


@pytest.mark.parametrize("update, pack", [("alternating", 1), ("simultaneous", 2)])
def test_batched_seeds_equal_separate_runs(tmp_path, update, pack):
    """Each seed of the batch against train() with that seed (the trainer's protocol). One step
    agrees to float rounding (batched vs single matmuls, our batch norm vs torch's); later, Adam's
    first steps move a weight by about ±lr whatever its gradient's size, so a near-zero gradient
    whose sign rounding decides can differ by up to 2·lr per step: the bound checked below."""
    seeds, steps, lr = [0, 1, 2], 3, 1e-4
    one = SeedBatch("ring", seeds, pack=pack, update=update)
    one.train_step()
    batch = SeedBatch("ring", seeds, pack=pack, update=update)
    for _ in range(steps):
        batch.train_step()
    for i, seed in enumerate(seeds):
        first = _separate(tmp_path / "one", seed, 1, pack=pack, update=update)
        for net, key in (("generator", "generator"), ("d", "discriminator")):
            mine = one.seed_state(i, net)
            assert max(float((first[key][k] - mine[k]).abs().max()) for k in mine) < 1e-6
        ref = _separate(tmp_path / "three", seed, steps, pack=pack, update=update)
        for net, key in (("generator", "generator"), ("d", "discriminator")):
            mine = batch.seed_state(i, net)
            diffs = torch.cat([(ref[key][k].double() - mine[k].double()).abs().flatten() for k in mine
                               if mine[k].is_floating_point() and "running" not in k])
            assert diffs.max() <= 2 * lr * steps and diffs.median() < 1e-6


def test_chunked_resume_is_exact_and_runs_export(tmp_path):
    """Chunks (a deadline already past trains nothing; then 1, then up to 4 steps) equal one
    straight run; the exported s<seed>/ folders sample like trainer runs; the log holds the
    per-seed curve."""
    kw = dict(seeds=[3, 5], dataset="ring", protocol="paper", pack=2, eval_every=2, log_every=1)
    straight = train_seeds(tmp_path / "a", steps=4, **kw)
    assert train_seeds(tmp_path / "b", steps=4, deadline=0, **kw)["steps"] == 0
    with pytest.raises(GanEvalError, match="already holds a seed group"):
        train_seeds(tmp_path / "b", steps=4, **kw)
    assert train_seeds(tmp_path / "b", steps=1, resume=True, **kw)["steps"] == 1
    for _ in range(2):
        chunk = train_seeds(tmp_path / "b", steps=4, resume=True, **kw)
    assert straight["steps"] == chunk["steps"] == 4
    a = load_checkpoint(tmp_path / "a" / "group.pt")
    b = load_checkpoint(tmp_path / "b" / "group.pt")
    for net in ("g", "d"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net])
    curve_a, curve_b = dict(read_curve(tmp_path / "a")), dict(read_curve(tmp_path / "b"))
    assert list(curve_a) == [0, 2, 4] and list(curve_b) == [0, 1, 2, 4]  # each chunk's end is a point too
    assert all(curve_a[s] == curve_b[s] for s in curve_a)
    assert read_curve(tmp_path / "a")[-1][1] == chunk["metrics"] and len(chunk["metrics"]) == 2
    pts = sample(str(tmp_path / "b" / "s5"), 50, seed=0)
    assert pts.shape == (50, 2) and np.isfinite(pts).all()
    cfg = json.loads((tmp_path / "b" / "s5" / "config.json").read_text())
    assert cfg["config"]["seed"] == 5 and cfg["seed_batch"]["protocol"] == "paper"
    with pytest.raises(GanEvalError, match="other settings"):
        train_seeds(tmp_path / "b", steps=6, resume=True, **{**kw, "pack": 1})


def test_paper_protocol_data_and_generator_slots():
    """PacGAN's synthetic experiments: a fixed set of 100,000 m-tuples per seed, drawn without
    replacement within an epoch; G runs once per packing slot (batch-norm statistics per slot)."""
    b = SeedBatch("ring", [0, 1], pack=2, protocol="paper")
    assert b.update == "simultaneous" and b.train_set.shape == (2, PAPER_TRAIN_SET, 2, 2)
    x = b._real(200)
    assert x.shape == (2, 200, 2)
    first = b.train_set[0, b.perm[0, :100]].reshape(200, 2)
    assert torch.equal(x[0], first)
    # per slot: a G pass on slot j's latents alone gives element j of each tuple
    z = torch.randn(2, 200, 2)
    with torch.no_grad():
        fake = b._fake(z)
        alone = b._generator(z.view(2, 100, 2, 2)[:, :, 1].contiguous().repeat_interleave(1, 0), b.g)
    torch.testing.assert_close(fake.view(2, 100, 2, 2)[:, :, 1], alone, rtol=1e-5, atol=1e-6)
    with pytest.raises(GanEvalError, match="unknown protocol"):
        SeedBatch("ring", [0], protocol="fast")
    with pytest.raises(GanEvalError, match="2-D mixtures"):
        SeedBatch("mnist", [0])
