"""PacGAN's Stacked MNIST protocols (``reproduce stacked-mnist --setting paper``): the trainer's
protocol options against the reference code's behaviour (PacGAN ``stacked_MNIST_experiments``:
1 D + 2 G updates on one z, G per packing slot, fixed or fresh triples, batch norm at sampling),
the fixed 128,000-triple set, and a tiny paper-setting table built across time-limited calls."""

import json

import numpy as np
import pytest
import torch

from _faults import assert_same_nets_and_optimizers
from gan_eval_models import checkpoint as ckpt
from gan_eval_models.datasets import get_dataset
from gan_eval_models.reproduce import stacked_mnist as sm
from gan_eval_models.train import TrainConfig, _Run, run_identity, train

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL_D = {**sm.SMALL_D_OPTIONS}
VEEGAN_TINY = {**sm.VEEGAN_OPTIONS}


def _cfg(tmp_path, mnist_dir, options, **extra):
    return TrainConfig(dataset="stacked-mnist", steps=3, out=str(tmp_path / "run"), quiet=True,
                       data_dir=str(mnist_dir), fid=False, eval_samples=50, batch_size=8,
                       **{**options, **extra})


def test_one_d_and_two_g_updates_per_iteration_on_one_z(tmp_path, mnist_dir):
    """VEEGAN setting: each iteration is one D update then two G updates, all fed the same z
    (the reference runs d_optim, g_optim, g_optim with one feed_dict_z); G runs per packing slot."""
    cfg = _cfg(tmp_path, mnist_dir, VEEGAN_TINY, pack=2, width=4,
               dataset_params={"n": 64, "digits": "all", "seed": 0}).validate()
    run = _Run(cfg, torch.device("cpu"))
    seen = []
    run.G.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    steps = {"g": 0, "d": 0}
    for name, opt in (("g", run.opt_g), ("d", run.opt_d)):
        opt.register_step_post_hook(lambda *a, name=name: steps.__setitem__(name, steps[name] + 1))
    for _ in range(2):
        run.train_step()
    assert steps == {"d": 2, "g": 4}
    # per iteration: D's G pass, then two G passes, each as 2 packing slots of batch 8 latents
    assert len(seen) == 2 * 3 * 2 and all(z.shape == (8, 100) for z in seen)
    for it in range(2):
        calls = seen[6 * it: 6 * it + 6]
        for slot in range(2):
            assert torch.equal(calls[slot], calls[2 + slot]) and torch.equal(calls[slot], calls[4 + slot])
        assert not torch.equal(calls[0], calls[1])  # the two slots have their own latents
    assert not torch.equal(seen[0], seen[6])  # a new z each iteration
    assert seen[0].abs().max() <= 1.0  # z ~ U(-1, 1)
    # the defaults keep one G update on fresh latents
    plain = _Run(_cfg(tmp_path / "p", mnist_dir, {"model": "dcgan-small", "width": 4}).validate(), torch.device("cpu"))
    zs = []
    plain.G.register_forward_pre_hook(lambda module, args: zs.append(args[0].clone()))
    plain.train_step()
    assert len(zs) == 2 and not torch.equal(zs[0], zs[1])


def test_checkpoint_counts_the_updates(tmp_path, mnist_dir):
    """Adam's step counters after 3 iterations: G 6, D 3 (VEEGAN setting); G 3, D 3 (D = ½ G)."""
    cfg = _cfg(tmp_path, mnist_dir, VEEGAN_TINY, width=4, dataset_params={"n": 64, "digits": "all", "seed": 0})
    train(cfg)
    state = ckpt.load_checkpoint(tmp_path / "run" / ckpt.CHECKPOINT)
    assert {float(s["step"]) for s in state["opt_g"]["state"].values()} == {6.0}
    assert {float(s["step"]) for s in state["opt_d"]["state"].values()} == {3.0}
    cfg = _cfg(tmp_path / "s", mnist_dir, SMALL_D)
    train(cfg)
    state = ckpt.load_checkpoint(tmp_path / "s" / "run" / ckpt.CHECKPOINT)
    assert {float(s["step"]) for s in state["opt_g"]["state"].values()} == {3.0}


def test_sampling_batch_norm_modes(tmp_path, mnist_dir):
    """eval mode (VEEGAN setting): samples do not depend on the sampling batch; batch mode (Metz
    et al.'s sampler): each batch of 128 is normalised by its own statistics, equal to G in
    training mode on that batch, and the running statistics are left untouched."""
    from gan_eval_models.models import build_models
    from gan_eval_models.monitor import generate, sampling_options
    from gan_eval_models.datasets import dataset_spec

    torch.manual_seed(0)
    G, _ = build_models("dcgan-small", dataset_spec("stacked-mnist"), width=4)
    with torch.no_grad():  # move the running statistics away from their initial values
        G.train()
        G(torch.randn(64, 256) * 3 + 1)
    kept = {k: v.clone() for k, v in G.named_buffers()}

    def draw(**kw):
        return generate(G, 256, torch.Generator().manual_seed(5), "cpu", **kw)

    assert torch.allclose(draw(batch_size=256), draw(batch_size=100), atol=1e-6)
    a, b = draw(bn="batch", batch_size=128), draw(bn="batch", batch_size=64)
    assert not torch.allclose(a, b, atol=1e-3) and not torch.allclose(a, draw(batch_size=128), atol=1e-3)
    from gan_eval_models.models.latent import sample_latent

    z = sample_latent(256, 256, "gaussian", torch.Generator().manual_seed(5))
    G.train()
    with torch.no_grad():
        direct = torch.cat([G(z[:128]), G(z[128:])])
    for k, v in G.named_buffers():  # undo that forward's update
        v.copy_(kept[k])
    assert torch.allclose(a, direct, atol=1e-6)
    assert all(torch.equal(v, kept[k]) for k, v in G.named_buffers())
    small = TrainConfig(model="dcgan-small", dataset="stacked-mnist", steps=1, out="x", **{
        k: v for k, v in SMALL_D.items() if k != "model"})
    veegan = TrainConfig(model="dcgan-veegan", dataset="stacked-mnist", steps=1, out="x", sample_bn="eval")
    assert sampling_options(small, small.resolved()) == {"bn": "batch", "batch_size": 128}
    assert sampling_options(veegan, veegan.resolved()) == {}


def test_the_fixed_triples_are_seeded_and_drawn_from_all_70000_digits(mnist_dir):
    """The VEEGAN setting's 128,000 triples: the same set for the same seed, another for another
    seed, and drawn from the 70,000 train + test digits (channel k of image i is digit idx[i, k]
    of the concatenation, idx = default_rng(seed).integers(0, 70000, (128000, 3)))."""
    from gan_eval_models.datasets.mnist import load_mnist

    a = get_dataset("stacked-mnist", str(mnist_dir), "train", n=128_000, digits="all", seed=7)
    b = get_dataset("stacked-mnist", str(mnist_dir), "train", n=128_000, digits="all", seed=7)
    c = get_dataset("stacked-mnist", str(mnist_dir), "train", n=1_000, digits="all", seed=8)
    assert a.images.shape == (128_000, 28, 28, 3)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images[:1000], c.images)
    train_d, train_y = load_mnist(str(mnist_dir), "train")
    test_d, test_y = load_mnist(str(mnist_dir), "test")
    digits, labels = np.concatenate([train_d, test_d]), np.concatenate([train_y, test_y])
    assert len(digits) == 70_000
    idx = np.random.default_rng(7).integers(0, 70_000, (128_000, 3))
    assert (idx >= 60_000).mean() > 0.13  # about 1/7 of the draws are test digits
    rows = np.flatnonzero((idx >= 60_000).any(1))[:50]
    for i in rows:
        for k in range(3):
            assert np.array_equal(a.images[i, :, :, k], digits[idx[i, k]])
        assert a.labels[i] == 100 * labels[idx[i, 0]] + 10 * labels[idx[i, 1]] + labels[idx[i, 2]]


def test_fixed_tuples_repeat_their_order_and_fresh_triples_do_not_repeat():
    from gan_eval_models.batches import FixedTupleBatches, FreshStackedBatches

    data = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 2, 2).contiguous()
    b = FixedTupleBatches(data, torch.arange(10), torch.Generator().manual_seed(0), (0.0, 255.0), "cpu", 2, 10)
    epoch1 = [b.next(4)[1] for _ in range(5)]  # 5 batches of 2 pairs = 10 tuples
    epoch2 = [b.next(4)[1] for _ in range(5)]
    assert all(torch.equal(x, y) for x, y in zip(epoch1, epoch2)) and b.epoch == 2
    assert torch.equal(torch.cat(epoch1).view(10, 2), b.tuples)  # tuples kept whole, consecutive
    digits = torch.randint(0, 255, (20, 2, 2), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    f = FreshStackedBatches(digits, torch.arange(20) % 10, torch.Generator().manual_seed(0), (-1.0, 1.0))
    x, y = f.next(6)
    assert x.shape == (6, 3, 2, 2) and x.min() >= -1 and x.max() <= 1 and not torch.equal(y, f.next(6)[1])


def test_protocol_options_enter_the_run_identity_and_defaults_keep_old_ones(tmp_path):
    base = TrainConfig(model="dcgan-small", dataset="stacked-mnist", steps=1, out="x", width=4)
    ids = {run_identity(c, c.resolved())["config_sha256"] for c in [
        base, TrainConfig(**{**base.__dict__, "g_steps": 2}), TrainConfig(**{**base.__dict__, "reuse_z": True}),
        TrainConfig(**{**base.__dict__, "g_per_slot": True}), TrainConfig(**{**base.__dict__, "sample_bn": "batch"}),
        TrainConfig(**{**base.__dict__, "real_batches": "fresh"})]}
    assert len(ids) == 6
    # a config without the protocol fields hashes as before they existed
    import hashlib
    from dataclasses import fields

    from gan_eval_models.train import NEUTRAL_DEFAULTS, RESOLVED_FIELDS, RUNTIME_FIELDS

    old = {f.name: getattr(base, f.name) for f in fields(TrainConfig)
           if f.name not in RUNTIME_FIELDS and f.name not in RESOLVED_FIELDS and f.name not in NEUTRAL_DEFAULTS}
    text = json.dumps({"config": old, "resolved": base.resolved()}, sort_keys=True, default=str)
    assert run_identity(base, base.resolved())["config_sha256"] == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("bad, message", [
    ({"g_steps": 0}, "g_steps must be an integer >= 1"),
    ({"real_batches": "sometimes"}, "real_batches must be one of shuffled, fixed-tuples, fresh"),
    ({"sample_bn": "train"}, "sample_bn must be one of eval, batch"),
    ({"reuse_z": "yes"}, "reuse_z must be true or false"),
    ({"model": "gan2014", "update": "simultaneous", "g_steps": 2}, "g_steps=2 needs alternating updates"),
])
def test_bad_protocol_options_are_refused(bad, message):
    from gan_eval.errors import GanEvalError

    with pytest.raises(GanEvalError, match=message):
        TrainConfig(**{"model": "dcgan-small", "dataset": "stacked-mnist", "steps": 1, "out": "x", **bad}).validate()
    with pytest.raises(GanEvalError, match="applies to stacked-mnist, not mnist"):
        TrainConfig(model="dcgan", dataset="mnist", steps=1, out="x", real_batches="fresh").validate()


def _tiny_paper(monkeypatch):
    """The paper setting with a 1,280-triple VEEGAN set and batches of 16 (the protocol otherwise unchanged)."""
    settings = {k: dict(v) for k, v in sm.PAPER_SETTINGS.items()}
    settings["veegan"]["dataset_params"] = {"n": 1_280, "digits": "all"}
    settings["veegan"]["options"] = {**settings["veegan"]["options"], "batch_size": 16}
    settings["small-d"]["options"] = {**settings["small-d"]["options"], "batch_size": 32}
    monkeypatch.setattr(sm, "PAPER_SETTINGS", settings)


def test_paper_table_states_each_rows_fraction(tmp_path, mnist_dir, monkeypatch):
    _tiny_paper(monkeypatch)
    out = tmp_path / "o"
    result = sm.run_paper(out, tmp_path / "w", seeds=1, steps=2, data_dir=str(mnist_dir), quiet=True,
                          n_samples=64, eval_every=1, rows=("DCGAN", "PacDCGAN2"))
    md = (out / "TABLE.md").read_text()
    ours = [r for r in result["ours"] if r["setting"] != "real"]
    assert [(r["setting"], r["method"]) for r in ours] == [("veegan", "DCGAN"), ("veegan", "PacDCGAN2"),
                                                           ("small-d", "DCGAN"), ("small-d", "PacDCGAN2")]
    assert all(r["steps"] == 2 and r["n_runs"] == 1 for r in ours)
    for r in ours:  # the fraction in the row itself
        line = next(l for l in md.splitlines() if l.startswith(f"| **ours** {r['method']} |") and
                    (("100,000" in l) == (r["setting"] == "veegan")))
        assert "| 2 / " + ("100,000 (0.002%)" if r["setting"] == "veegan" else "500,000 (0.0004%)") in line
    assert "78.9 ± 6.46" in md and "840.7 ± 15.92" in md  # PacGAN Tables 2 and 3 beside them
    for item in ("1 D update then 2 G updates", "128,000 triples", "70,000 MNIST digits", "U(-1, 1)", "26,000",
                 "25,600", "batch mode", "inference mode", "fresh triples", "500,000 iterations",
                 "100,000 iterations", "the D update's z", "4,514,819", "4,310,401"):
        assert item in md, item
    sm.refresh(out)  # rewrites the table from its TABLE.json alone
    assert (out / "TABLE.md").read_text() == md
    curves = json.loads((out / "convergence.json").read_text())["curves"]
    assert [p["step"] for p in curves["veegan/DCGAN"]] == [1, 2] and (out / "convergence.png").stat().st_size > 1000


def test_two_time_limited_calls_reach_the_checkpoint_of_one_call(tmp_path, mnist_dir, monkeypatch):
    """A first call whose time runs out after 2 iterations of the first run (the other runs then do not
    start), a second call to the end: each run's checkpoint equals that of an uninterrupted call."""
    import time

    import gan_eval_models.train as train_module

    _tiny_paper(monkeypatch)
    kw = dict(seeds=1, steps=4, data_dir=str(mnist_dir), quiet=True, n_samples=32, eval_every=2,
              settings=("small-d", "veegan"), rows=("PacDCGAN2",))
    sm.run_paper(tmp_path / "o1", tmp_path / "one", **kw)
    calls = []

    def clock():  # real time for 2 deadline checks, then past any deadline
        calls.append(1)
        return time.time() + (0 if len(calls) <= 2 else 1e9)

    monkeypatch.setattr(train_module, "_now", clock)
    first = sm.run_paper(tmp_path / "o2", tmp_path / "two", deadline=time.time() + 3600, **kw)
    rows = {r["setting"]: r for r in first["ours"] if r["setting"] != "real"}
    assert rows["small-d"]["steps"] == 2 and rows["veegan"]["runs_pending"] == 1
    md = (tmp_path / "o2" / "TABLE.md").read_text()
    assert "2 / 500,000 (0.0004%)" in md and "1 run not evaluated yet" in md
    monkeypatch.setattr(train_module, "_now", time.time)
    sm.run_paper(tmp_path / "o2", tmp_path / "two", deadline=time.time() + 3600, **kw)
    for name in ("paper-small-d-pacdcgan2-s0", "paper-veegan-pacdcgan2-s0"):
        a = ckpt.load_checkpoint(tmp_path / "one" / name / ckpt.CHECKPOINT)
        b = ckpt.load_checkpoint(tmp_path / "two" / name / ckpt.CHECKPOINT)
        assert a["step"] == b["step"] == 4
        assert_same_nets_and_optimizers(a, b)
    assert json.loads((tmp_path / "o2" / "TABLE.json").read_text())["ours"][1]["steps"] == 4
