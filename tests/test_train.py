"""The trainer: short runs on the ring and on MNIST, exact resume, refusals."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from _faults import assert_same_nets_and_optimizers
from gan_eval.errors import GanEvalError
from gan_eval_models.checkpoint import load_checkpoint
from gan_eval_models.sample import load_generator, sample
from gan_eval_models.checkpoint import rng_scope
from gan_eval_models.train import TrainConfig, _Run, ema_rate, has_checkpoint, train



pytestmark = pytest.mark.usefixtures("one_thread")



@pytest.fixture
def mnist_cfg(mnist_dir):
    return lambda out, **kw: _mnist_cfg(out, mnist_dir, **kw)


@pytest.fixture
def ring_cfg():
    return _ring_cfg


def _mnist_cfg(out, mnist_dir, **kw):
    base = dict(model="gan2014", dataset="mnist", steps=6, out=str(out), data_dir=str(mnist_dir), width=32,
                batch_size=16, checkpoint_every=3, log_every=1, eval_samples=50, quiet=True)
    base.update(kw)
    return TrainConfig(**base)


def _ring_cfg(out, **kw):
    base = dict(model="dcgan", dataset="ring", steps=6, out=str(out), width=16, batch_size=8, pack=2,
                minibatch_disc=True, checkpoint_every=3, log_every=1, eval_samples=200, quiet=True)
    base.update(kw)
    return TrainConfig(**base)


def _log(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "log.jsonl").read_text().splitlines()]


def test_ring_run_writes_its_files(tmp_path):
    summary = train(TrainConfig("gan2014", "ring", steps=4, out=str(tmp_path / "r"), width=16, log_every=2,
                                eval_every=2, eval_samples=100, quiet=True))
    run = tmp_path / "r"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.json", "log.jsonl", "samples_2.png", "samples_4.png"]
    assert summary["steps"] == 4 and summary["resumed_from"] is None
    assert np.isfinite(summary["final"]["d_loss"]) and np.isfinite(summary["final"]["g_loss"])
    assert summary["hyperparameters"]["lr"] == 1e-4 and summary["hyperparameters"]["loss"] == "non-saturating"
    m = summary["metrics"]
    assert m["n_modes"] == 8 and 0 <= m["modes_captured"] <= 8 and 0 <= m["high_quality_fraction"] <= 1
    rows = _log(run)
    assert [r["step"] for r in rows if "d_loss" in r] == [2, 4] and [r["step"] for r in rows if "metrics" in r] == [2, 4]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["config"]["model"] == "gan2014" and cfg["resolved"]["latent_dim"] == 2
    pts = sample(run, 10, seed=1)
    assert pts.shape == (10, 2) and pts.dtype == np.float64
    # eval mode and latents drawn up front: the batch size changes nothing beyond float rounding
    np.testing.assert_allclose(pts, sample(run, 10, seed=1, batch_size=3), rtol=1e-5, atol=1e-7)
    assert np.array_equal(pts, sample(run, 10, seed=1))
    assert not np.array_equal(pts, sample(run, 10, seed=2))


def test_mnist_run_and_samples(tmp_path, mnist_cfg):
    summary = train(mnist_cfg(tmp_path / "m", steps=2))
    assert np.isfinite(summary["metrics"]["parzen_ll_val"]) and summary["metrics"]["parzen_sigma"] > 0
    images = sample(tmp_path / "m", 5, truncation=0.5)
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    G, cfg = load_generator(tmp_path / "m")
    assert cfg.model == "gan2014" and not G.training and G.latent == "uniform"


def _state(run_dir):
    return load_checkpoint(Path(run_dir) / "checkpoint.pt")


def _assert_identical(a, b):
    assert_same_nets_and_optimizers(a, b)
    assert torch.equal(a["rng"]["noise"], b["rng"]["noise"]) and torch.equal(a["rng"]["torch"], b["rng"]["torch"])


@pytest.mark.parametrize(
    "which, options",
    [("mnist_cfg", {}), ("mnist_cfg", {"optimizer": "sgd"}), ("ring_cfg", {}), ("ring_cfg", {"ema": 0.9})],
    ids=["mnist-gan2014-dropout-adam", "mnist-gan2014-yaml-sgd-simultaneous", "ring-dcgan-pack-mbd", "ring-dcgan-ema"],
)
def test_resume_is_bit_identical(tmp_path, request, which, options):
    """3 steps + resume to 6 ends with exactly the parameters, optimiser states and losses of 6 straight steps."""
    fixture = request.getfixturevalue(which)
    make = lambda out, **kw: fixture(out, **{**options, **kw})  # noqa: E731
    full = tmp_path / "full"
    train(make(full))
    part = tmp_path / "part"
    train(make(part, steps=3))
    summary = train(make(part), resume=True)
    assert summary["resumed_from"] == 3 and summary["steps"] == 6
    _assert_identical(_state(full), _state(part))
    losses = lambda d: [(r["step"], r["d_loss"], r["g_loss"]) for r in _log(d) if "d_loss" in r]  # noqa: E731
    assert losses(full) == losses(part) and len(losses(full)) == 6


def test_resume_after_an_interruption_between_checkpoints(tmp_path, ring_cfg):
    """Steps after the last checkpoint are replayed: the log keeps no line from the lost steps."""
    full, part = tmp_path / "full", tmp_path / "part"
    train(ring_cfg(full, steps=5))
    train(ring_cfg(part, steps=4, checkpoint_every=100))  # checkpoint only at step 4
    state = _state(part)
    train(ring_cfg(part, steps=5, checkpoint_every=100), resume=True)
    _assert_identical(_state(full), _state(part))
    assert [r["step"] for r in _log(part) if "d_loss" in r] == [1, 2, 3, 4, 5]
    assert state["step"] == 4


def test_refuses_to_overwrite_and_mismatched_resume(tmp_path, ring_cfg):
    run = tmp_path / "run"
    train(ring_cfg(run, steps=2))
    before = (run / "checkpoint.pt").read_bytes()
    with pytest.raises(GanEvalError, match="already holds a checkpoint; pass resume=True"):
        train(ring_cfg(run, steps=2))
    assert (run / "checkpoint.pt").read_bytes() == before
    with pytest.raises(GanEvalError, match=r"configuration differs.*lr: 0.0001 in the run, 0.001 now"):
        train(ring_cfg(run, steps=4, lr=1e-3), resume=True)
    summary = train(ring_cfg(run, steps=3, lr=1e-4, eval_samples=10, log_every=5), resume=True)  # = the default
    assert summary["resumed_from"] == 2 and summary["steps"] == 3
    before = (run / "checkpoint.pt").read_bytes()
    with pytest.raises(GanEvalError, match=r"model: 'dcgan' in the run, 'lsgan' now.*pack: 2 in the run, 1 now"):
        train(ring_cfg(run, steps=4, model="lsgan", pack=1), resume=True)
    assert (run / "checkpoint.pt").read_bytes() == before
    with pytest.raises(GanEvalError, match="no checkpoint to resume"):
        train(ring_cfg(tmp_path / "empty"), resume=True)
    summary = train(ring_cfg(run, steps=1, seed=5), overwrite=True)
    assert summary["steps"] == 1 and has_checkpoint(run)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.json", "log.jsonl", "samples_1.png"]


def test_sgan_and_acgan_report_test_accuracy(tmp_path, mnist_dir):
    s = train(TrainConfig("sgan", "mnist", steps=2, out=str(tmp_path / "s"), data_dir=str(mnist_dir), width=4,
                          batch_size=8, n_labels=20, eval_samples=20, quiet=True))
    assert 0.0 <= s["metrics"]["test_accuracy"] <= 1.0
    a = train(TrainConfig("acgan", "ring", steps=2, out=str(tmp_path / "a"), width=8, batch_size=8,
                          eval_samples=50, quiet=True))
    assert 0.0 <= a["metrics"]["test_accuracy"] <= 1.0
    pts = sample(tmp_path / "a", 4, labels=[0, 1, 2, 3])
    assert pts.shape == (4, 2)
    with pytest.raises(GanEvalError, match="labels must be 4 integers in 0..7"):
        sample(tmp_path / "a", 4, labels=[0, 1, 2, 9])


def test_resolved_hyperparameters():
    """Paper defaults, and the fallbacks when another optimiser is chosen."""
    hp = TrainConfig("gan2014", "mnist", 1, "unused").validate().resolved()
    assert (hp["optimizer"], hp["lr"], hp["d_lr"], hp["betas"], hp["batch_size"], hp["update"]) == (
        "adam", 2e-4, 1e-4, [0.5, 0.999], 100, "alternating")
    # optimizer="sgd" on images is mnist.yaml's recipe: its schedule and simultaneous updates
    hp = TrainConfig("gan2014", "mnist", 1, "unused", optimizer="sgd").validate().resolved()
    assert (hp["optimizer"], hp["lr"], hp["d_lr"], hp["momentum"], hp["update"], hp["schedule"]) == (
        "sgd", 0.1, 0.1, 0.5, "simultaneous", True)
    hp = TrainConfig("gan2014", "ring", 1, "unused", optimizer="sgd").validate().resolved()
    assert (hp["optimizer"], hp["lr"], hp["momentum"], hp["schedule"]) == ("sgd", 0.01, 0.5, False)
    hp = TrainConfig("dcgan", "cifar10", 1, "unused", lr=1e-3).validate().resolved()
    assert (hp["optimizer"], hp["lr"], hp["betas"], hp["batch_size"], hp["update"]) == ("adam", 1e-3, [0.5, 0.999], 128, "alternating")
    assert TrainConfig("lsgan", "ring", 1, "unused").validate().resolved()["loss"] == "least-squares"
    # the discriminator's rate: lr unless chosen apart
    hp = TrainConfig("dcgan", "cifar10", 1, "unused", lr=1e-3).validate().resolved()
    assert hp["d_lr"] == 1e-3
    hp = TrainConfig("dcgan", "cifar10", 1, "unused", lr=1e-3, d_lr=5e-4).validate().resolved()
    assert (hp["lr"], hp["d_lr"]) == (1e-3, 5e-4)


def test_discriminator_learning_rate_reaches_its_optimiser(tmp_path, ring_cfg):
    from gan_eval_models.train import _Run

    run = _Run(ring_cfg(tmp_path / "r", lr=3e-4, d_lr=1e-4, pack=1).validate(), torch.device("cpu"))
    assert run.opt_g.param_groups[0]["lr"] == 3e-4 and run.opt_d.param_groups[0]["lr"] == 1e-4


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(model="acgan", pack=2), "packing"),
        (dict(n_labels=10), "n_labels applies to sgan only"),
        (dict(image_size=32), "image_size applies to image datasets"),
        (dict(steps=-1), "steps must be an integer >= 0"),
        (dict(k_disc=0), "k_disc must be an integer >= 1"),
        (dict(lr=0.0), "lr must be a positive number"),
        (dict(d_lr=float("nan")), "d_lr must be a positive number"),
        (dict(ema=1.0), r"ema must be a number in \[0, 1\)"),
        (dict(loss="wasserstein"), "unknown loss"),
        (dict(latent="cauchy"), "unknown latent distribution"),
        (dict(dataset="svhn"), "known datasets"),
        (dict(model="sgan", loss="least-squares"), "not least-squares"),
        (dict(dataset_params={"side": 3}), "takes no parameter"),
        (dict(update="sometimes"), "unknown update rule 'sometimes'; known: alternating, simultaneous"),
        (dict(optimizer="rmsprop"), "unknown optimizer 'rmsprop'; known: sgd, adam"),
        (dict(update="simultaneous", k_disc=2), "k_disc=2 needs alternating updates"),
    ],
)
def test_bad_configurations(tmp_path, ring_cfg, kw, message):
    with pytest.raises(GanEvalError, match=message):
        train(ring_cfg(tmp_path / "x", **{"pack": 1, **kw}))
    assert not (tmp_path / "x").exists()


def test_weight_average_is_what_samples_come_from(tmp_path, ring_cfg):
    """With ema = d, G_ema ← G_ema + r_t·(G − G_ema) after the t-th G step, r_t = (1 − d)/(1 − d^t)
    (bias-corrected), and sampling loads G_ema."""
    out = tmp_path / "ema"
    train(ring_cfg(out, ema=0.5, steps=2, checkpoint_every=1))
    state = _state(out)
    g, avg = state["generator"], state["generator_ema"]
    assert any(not torch.equal(g[k], avg[k]) for k in g if g[k].is_floating_point())
    G, _ = load_generator(out)
    assert all(torch.equal(G.state_dict()[k], avg[k]) for k in avg)
    raw, _ = load_generator(out, average=False)
    assert all(torch.equal(raw.state_dict()[k], g[k]) for k in g)
    # step 1 replaces the initial weights (r_1 = 1); step 2: r_2 = 0.5 / 0.75 = 2/3
    train(ring_cfg(tmp_path / "one", ema=0.5, steps=1, checkpoint_every=1))
    one = _state(tmp_path / "one")
    k = next(k for k in g if k.endswith("weight"))
    assert torch.equal(one["generator_ema"][k], one["generator"][k])
    assert torch.allclose(avg[k], one["generator_ema"][k] / 3 + 2 * g[k] / 3, atol=1e-7)


def test_ema_rate_is_the_bias_corrected_average():
    """The recursion with ema_rate equals the closed form Σ (1 − d) d^(t−k) θ_k / (1 − d^t)."""
    d, theta = 0.9999, np.random.default_rng(0).normal(size=300)
    avg = 123.0  # the initial value must not matter
    for t, x in enumerate(theta, 1):
        avg += ema_rate(t, d) * (x - avg)
    w = (1 - d) * d ** np.arange(len(theta) - 1, -1, -1)
    np.testing.assert_allclose(avg, (w * theta).sum() / (1 - d ** len(theta)), rtol=1e-9)
    assert ema_rate(1, d) == 1.0 and abs(ema_rate(10**6, d) - (1 - d)) < 1e-12


def test_short_runs_sample_from_their_own_iterates(tmp_path, mnist_cfg):
    """gan2014's 0.9999 average after 200 steps: with a constant rate it would hold 98% of the
    initial weights (64 near-identical blobs); the bias-corrected one averages the run's own
    iterates, which for a steady drift lands about halfway between the start and G."""
    out = tmp_path / "short"
    train(mnist_cfg(out, steps=200, ema=0.9999, checkpoint_every=200))
    state = load_checkpoint(out / "checkpoint.pt")
    with rng_scope(0, torch.device("cpu")):  # the run's initial weights, as train() builds them
        init = _Run(mnist_cfg(tmp_path / "zero").validate(), torch.device("cpu")).G.state_dict()
    keys = [k for k in state["generator"] if k.endswith("weight")]
    flat = lambda sd: torch.cat([sd[k].flatten() for k in keys])  # noqa: E731
    g, avg, g0 = flat(state["generator"]), flat(state["generator_ema"]), flat(init)
    assert (avg - g0).norm() > 0.3 * (g - g0).norm()  # a constant 0.9999 rate: 0.02
    # what a constant 0.9999 rate would hold: d^t·G_0 + (1 − d^t)·(the bias-corrected average)
    w0 = 0.9999 ** 200
    const = {k: w0 * init[k] + (1 - w0) * v if v.is_floating_point() else v for k, v in state["generator_ema"].items()}
    G, _ = load_generator(out)
    z = torch.rand(64, G.latent_dim, generator=torch.Generator().manual_seed(0)) * 2 - 1
    spread = []
    for weights in (state["generator_ema"], const, state["generator"]):
        G.load_state_dict(weights)
        with torch.no_grad():
            spread.append(float(G(z).std(0).mean()))
    print("pixel std across 64 samples: bias-corrected average %.4f, constant rate %.4f, raw G %.4f" % tuple(spread))
    assert spread[0] > 5 * spread[1]  # the constant rate: near-copies of one blob
