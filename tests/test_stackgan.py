"""StackGAN pieces: net shapes, conditioning augmentation and its KL against the closed form,
the matching-aware losses against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from gan_eval_models.models import stackgan as sg


def test_kl_against_the_closed_form():
    """½ Σ (σ² + μ² − 1 − log σ²), checked against torch.distributions' Gaussian KL and a hand value."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(7, 5, generator=g, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                            torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    assert float(sg.kl_to_standard_normal(mu, logvar)) == pytest.approx(float(ref.sum(1).mean()), rel=1e-12)
    # μ = 1, σ² = 1 in one dimension: ½ (1 + 1 − 1 − 0) = ½; μ = 0, σ² = e: ½ (e − 1 − 1)
    assert float(sg.kl_to_standard_normal(torch.ones(1, 1), torch.zeros(1, 1))) == pytest.approx(0.5)
    assert float(sg.kl_to_standard_normal(torch.zeros(1, 1), torch.ones(1, 1))) == pytest.approx(0.5 * (math.e - 2))
    assert float(sg.kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0


def test_conditioning_augmentation_draws_from_n_mu_sigma():
    torch.manual_seed(0)
    ca = sg.ConditioningAugmentation(10, 3)
    phi = sg.one_hot(torch.full((20000,), 4))
    with torch.no_grad():
        c, mu, logvar = ca(phi, torch.Generator().manual_seed(1))
    assert c.shape == (20000, 3)
    assert torch.allclose(c.mean(0), mu[0], atol=4 * float((0.5 * logvar[0]).exp().max()) / math.sqrt(20000))
    assert torch.allclose(c.var(0), logvar[0].exp(), rtol=0.05)
    c0, mu0, _ = ca(phi[:2], sample=False)
    assert torch.equal(c0, mu0)


def test_matching_aware_losses_by_hand():
    zero = torch.zeros(4)
    # BCE(real,right→1) + ½[BCE(real,wrong→0) + BCE(fake→0)] at logit 0: ln 2 + ½ (ln 2 + ln 2)
    assert float(sg.matching_aware_d_loss(zero, zero, zero)) == pytest.approx(2 * math.log(2))
    big = torch.full((4,), 30.0)
    # a D that is right on all three terms has a loss near 0; one fooled by the wrong caption pays ½·30
    assert float(sg.matching_aware_d_loss(big, -big, -big)) < 1e-10
    assert float(sg.matching_aware_d_loss(big, big, -big)) == pytest.approx(15.0, rel=1e-6)
    assert float(sg.generator_adv_loss(zero)) == pytest.approx(math.log(2))


def test_wrong_labels_are_always_wrong():
    y = torch.arange(10).repeat(100)
    w = sg.wrong_labels(y, torch.Generator().manual_seed(0))
    assert bool((w != y).all()) and set(w.tolist()) == set(range(10))


def test_net_shapes_and_seeded_generation(tmp_path):
    from gan_eval_models.multinet import NetsConfig

    cfg = NetsConfig(model="stackgan", dataset="mnist", steps=2, out=str(tmp_path), width=4, params={"n_res": 1})
    t = sg.Trainer(cfg, cfg.resolved(), torch.device("cpu"), load_data=False)
    z, phi = torch.randn(3, 32), sg.one_hot(torch.tensor([0, 5, 9]))
    low, mu, logvar = t.nets["G1"](z, phi)
    assert low.shape == (3, 1, 16, 16) and mu.shape == logvar.shape == (3, 8)
    high, _, _ = t.nets["G2"](low, phi)
    assert high.shape == (3, 1, 32, 32)
    assert t.nets["D1"](low, phi).shape == (3,) and t.nets["D2"](high, phi).shape == (3,)
    a, b = t.generate([1, 2, 3], seed=7), t.generate([1, 2, 3], seed=7)
    assert a[0].shape == (3, 16, 16) and a[1].shape == (3, 32, 32) and a[1].dtype == np.uint8
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
