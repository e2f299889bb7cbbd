"""CycleGAN pieces: net shapes, the losses against hand-computed values, the history buffer, the
lr schedule, and the restyled-MNIST / USPS domain loaders."""

import bz2
import math

import numpy as np
import pytest
import torch

from gan_eval.errors import GanEvalError
from gan_eval_models.datasets.domains import restyle, to_mnist_style
from gan_eval_models.datasets.usps import load_usps, parse_libsvm_digits
from gan_eval_models.models import cyclegan as cg


def test_net_shapes():
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    g = cg.resnet_generator(1, 4, 2)
    y = g(x)
    assert y.shape == (3, 1, 28, 28) and float(y.detach().abs().max()) <= 1
    assert cg.patch_discriminator(1, 4)(x).shape == (3, 1, 5, 5)


def test_losses_against_hand_computed_values():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.5, -1.0])
    # ½ [mean((1−1)², (0−1)²) + mean(0.5², 1²)] = ½ [0.5 + 0.625]
    assert float(cg.lsgan_d_loss(real, fake)) == pytest.approx(0.5625)
    # mean((0.5 − 1)², (−1 − 1)²) = (0.25 + 4) / 2
    assert float(cg.lsgan_g_loss(fake)) == pytest.approx(2.125)
    a, b = torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    # λ (|1 − 0| + |0.5 − 0|) with λ = 10
    assert float(cg.cycle_loss(a, torch.ones_like(a), b, torch.full_like(b, 0.5), 10.0)) == pytest.approx(15.0)
    # 0.5 λ (|G(b) − b| + |F(a) − a|) = 5 (0.25 + 1)
    assert float(cg.identity_loss(a, torch.ones_like(a), b, torch.full_like(b, 0.25), 10.0, 0.5)) == pytest.approx(6.25)


def test_history_buffer_fills_then_swaps_half_the_time():
    pool = cg.ImagePool(3, torch.Generator().manual_seed(0))
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # while filling: stored and returned as they are
    stored = sorted(float(im) for im in pool.images)
    new = torch.arange(10.0, 14.0).view(4, 1, 1, 1)
    out = pool.query(new)
    # conservation: what went in (old pool + new batch) is what is now out or stored
    before = sorted(stored + [float(v) for v in new.flatten()])
    after = sorted([float(v) for v in out.flatten()] + [float(im) for im in pool.images])
    assert before == after and len(pool.images) == 3 and out.shape == new.shape
    # over many queries, about half of the returned images come from the history
    pool = cg.ImagePool(50, torch.Generator().manual_seed(1))
    pool.query(torch.full((50, 1, 1, 1), -1.0))
    old = 0
    for i in range(40):
        batch = torch.arange(50.0 * i, 50.0 * (i + 1)).view(50, 1, 1, 1)  # every image distinct
        old += int((pool.query(batch) != batch).sum())  # positions where a stored image was swapped in
    assert abs(old / 2000 - 0.5) < 0.04
    assert torch.equal(cg.ImagePool(0, None).query(new), new)  # size 0: no history


def test_history_buffer_state_round_trip():
    pool = cg.ImagePool(4, torch.Generator().manual_seed(0))
    pool.query(torch.rand(3, 1, 2, 2))
    other = cg.ImagePool(4, torch.Generator())
    other.load_state_dict(pool.state_dict(), torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(pool.images, other.images)) and len(other.images) == 3


def test_linear_decay():
    f = [cg.linear_decay(s, 10, 0.5) for s in range(10)]
    assert f[:6] == [1.0] * 6 and f[6:] == pytest.approx([0.8, 0.6, 0.4, 0.2])
    assert cg.linear_decay(3, 10, 1.0) == 1.0


def test_restyle_thickens_and_inverts():
    x = np.zeros((1, 28, 28), np.uint8)
    x[0, 10, 10] = 200
    y = restyle(x)
    expected = np.full((28, 28), 255, np.uint8)
    expected[9:12, 9:12] = 55  # the 3×3 max filter spreads the stroke, then 255 − x
    assert np.array_equal(y[0], expected)
    assert np.array_equal(to_mnist_style(y, "restyled-mnist", "b")[0, 10, 10], 200)


def test_usps_parsing_and_clean_offline_errors(tmp_path):
    text = "1 " + " ".join(f"{i}:{v}" for i, v in enumerate([-1, 0, 1] + [-1] * 253, start=1)) + "\n10 1:1\n"
    x, y = parse_libsvm_digits(text)
    assert x.shape == (2, 16, 16) and list(y) == [0, 9]
    assert list(x[0, 0, :3]) == [0, 128, 255] and x[1, 0, 0] == 255 and x[1, 0, 1] == 0  # missing entries are −1
    with pytest.raises(GanEvalError, match="USPS file usps.bz2 not found"):
        load_usps(tmp_path, "train")
    (tmp_path / "usps.bz2").write_bytes(bz2.compress(text.encode()))
    with pytest.raises(GanEvalError, match="md5"):
        load_usps(tmp_path, "train")


def test_translate_shapes_and_errors(tmp_path):
    from gan_eval_models.multinet import NetsConfig

    cfg = NetsConfig(model="cyclegan", dataset="restyled-mnist", steps=1, out=str(tmp_path), width=2,
                     params={"n_res": 1})
    trainer = cg.Trainer(cfg, cfg.resolved(), torch.device("cpu"), load_data=False)
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    assert trainer.translate(x).shape == (5, 28, 28) and trainer.reconstruct(x[..., None], "b2a").dtype == np.uint8
    with pytest.raises(GanEvalError, match="28×28"):
        trainer.translate(x[:, :16, :16])
    with pytest.raises(GanEvalError, match="direction"):
        trainer.translate(x, "a2c")
    assert math.isclose(cfg.resolved()["lambda_cycle"], 10.0)
