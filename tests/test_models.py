"""Model families: shapes and ranges, minibatch discrimination and packing against direct
reference code, losses against their textbook formulas, latent truncation, schedules."""

import math

import numpy as np
import pytest
import torch

from gan_eval.errors import GanEvalError
from gan_eval_models.datasets import dataset_spec
from gan_eval_models.models import MODELS, build_models, get_model
from gan_eval_models.models import losses as L
from gan_eval_models.models.dcgan import layout
from gan_eval_models.models.gan2014 import schedule
from gan_eval_models.models.latent import sample_latent
from gan_eval_models.models.layers import MinibatchDiscrimination, pack


pytestmark = pytest.mark.usefixtures("one_thread")

SPECS = {
    "mnist": dataset_spec("mnist"),
    "cifar10": dataset_spec("cifar10"),
    "ring": dataset_spec("ring"),
}


def _labels(G, n):
    return torch.arange(n) % G.n_classes if G.n_classes else None


@pytest.mark.parametrize("model", [m for m in MODELS if m not in ("dcgan-small", "dcgan-veegan")])  # 28 px only: below
@pytest.mark.parametrize("data", list(SPECS))
def test_shapes_ranges_and_finite_losses(model, data):
    torch.manual_seed(0)
    spec = SPECS[data]
    mbd = data in ("mnist", "ring")
    G, D = build_models(model, spec, width=8 if model != "gan2014" else 32, minibatch_disc=mbd)
    n = 6
    z = sample_latent(n, G.latent_dim, G.latent, torch.Generator().manual_seed(0))
    x = G(z, _labels(G, n))
    assert x.shape == (n, *spec["shape"])
    if spec["kind"] == "image":
        lo, hi = G.output_range
        assert x.min() >= lo and x.max() <= hi and (lo, hi) == ((0.0, 1.0) if model == "gan2014" else (-1.0, 1.0))
    else:
        assert G.output_range is None
    out = D(x)
    k = spec["n_classes"]
    assert out.shape == (n, {"acgan": 1 + k, "sgan": k + 1}.get(model, 1))
    objective = get_model(model).OBJECTIVE
    y = torch.arange(n) % k
    if objective == "gan":
        losses = [L.discriminator_loss(out, out, "minimax")] + [L.generator_loss(out, name) for name in L.LOSSES]
    elif objective == "acgan":
        losses = [L.acgan_discriminator_loss(out, y, out, y, "non-saturating"), L.acgan_generator_loss(out, y, "minimax")]
    else:
        losses = [L.sgan_discriminator_loss(out, y, out, out), L.sgan_generator_loss(out, "non-saturating")]
    for value in losses:
        assert value.ndim == 0 and torch.isfinite(value)
    sum(losses).backward()
    assert all(p.grad is not None for p in G.parameters())


@pytest.mark.parametrize("data", ["mnist", "ring"])
def test_packing_widens_the_input_and_groups_consecutive_samples(data):
    spec = SPECS[data]
    G, D = build_models("dcgan", spec, width=8, pack=3)
    x = G(torch.randn(12, G.latent_dim))
    assert D(x).shape == (4, 1)
    first = D.body[0].linear if data == "ring" else D.body[0]
    assert first.in_features == 6 if data == "ring" else first.in_channels == 3
    with pytest.raises(GanEvalError, match="does not divide"):
        D(x[:10])


def test_pack_reference():
    """pack(x, m)[j] is samples j·m … j·m+m−1 concatenated along axis 1 (PacGAN's layout)."""
    x = torch.arange(6 * 2 * 3 * 3, dtype=torch.float32).view(6, 2, 3, 3)
    p = pack(x, 3)
    assert p.shape == (2, 6, 3, 3)
    assert torch.equal(p[1], torch.cat([x[3], x[4], x[5]], dim=0))
    v = torch.arange(8.0).view(4, 2)
    assert torch.equal(pack(v, 2), torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7]]))


def _reference_minibatch_layer(x, theta, log_weight_scale, b, init=False):
    """openai/improved-gan nn.py MinibatchLayer.get_output_for, transcribed to NumPy (float64):
    returns (output, new log_weight_scale, new b) (the last two only change when init=True)."""
    W = theta * (np.exp(log_weight_scale) / np.sqrt(np.sum(np.square(theta), axis=0)))[None]
    activation = np.tensordot(x, W, [[1], [0]])  # (N, B, C)
    abs_dif = (np.sum(np.abs(activation[:, :, :, None] - activation.transpose(1, 2, 0)[None]), axis=2)
               + 1e6 * np.eye(x.shape[0])[:, None, :])  # (N, B, N)
    if init:
        mean_min_abs_dif = 0.5 * np.mean(np.min(abs_dif, axis=2), axis=0)
        abs_dif /= mean_min_abs_dif[None, :, None]
        log_weight_scale = log_weight_scale - np.log(mean_min_abs_dif)[:, None]
    f = np.sum(np.exp(-abs_dif), axis=2)
    if init:
        mf = np.mean(f, axis=0)
        f -= mf[None]
        b = -mf
    else:
        f += b[None]
    return np.concatenate([x, f], axis=1), log_weight_scale, b


def test_minibatch_discrimination_matches_the_reference_layer():
    """Same θ, log-scale and bias → the same output as improved-gan's MinibatchLayer (NumPy
    transcription above), ≤ 1e-6, before and after the data-dependent init."""
    torch.manual_seed(1)
    layer = MinibatchDiscrimination(6, n_kernels=4, kernel_dim=3).double()
    with torch.no_grad():
        layer.log_weight_scale.normal_(0, 0.3)
        layer.b.normal_(0, 1)
    f = torch.randn(7, 6, dtype=torch.float64)
    theta, s, b = (t.detach().numpy().copy() for t in (layer.theta, layer.log_weight_scale, layer.b))
    expected, _, _ = _reference_minibatch_layer(f.numpy(), theta, s, b)
    ours = torch.cat([f, layer(f)], 1).detach().numpy()
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)

    expected_init, s_init, b_init = _reference_minibatch_layer(f.numpy(), theta, s, b, init=True)
    layer.data_init(f)
    np.testing.assert_allclose(layer.log_weight_scale.detach().numpy(), s_init, rtol=0, atol=1e-6)
    np.testing.assert_allclose(layer.b.detach().numpy(), b_init, rtol=0, atol=1e-6)
    # after init the layer's plain forward equals the reference's init-pass output
    np.testing.assert_allclose(torch.cat([f, layer(f)], 1).detach().numpy(), expected_init, rtol=0, atol=1e-6)


def test_minibatch_discrimination_far_rows_match_the_uncapped_formula():
    """The float32 layer caps L1 distances at 80 before exp (subnormal exp is slow); with
    distances from 0 to ~300 its features and their gradients equal the float64 reference
    formula's (exp of the uncapped distance) to 1e-6."""
    torch.manual_seed(2)
    layer = MinibatchDiscrimination(4, n_kernels=3, kernel_dim=2)
    f = torch.cat([torch.randn(5, 4) * 0.05, torch.randn(5, 4) * 100.0])  # near pairs and far pairs
    f32 = f.clone().requires_grad_(True)
    out32 = layer(f32)
    f64 = f.double().requires_grad_(True)
    m = torch.einsum("na,abc->bnc", f64, layer.weight().double())
    d = (m[:, :, None, :] - m[:, None, :, :]).abs().sum(-1)
    assert d.max() > 200 and (d < 1).sum() > 30
    eye = torch.eye(10, dtype=torch.bool)
    out64 = torch.exp(-d).masked_fill(eye, 0.0).sum(-1).t() + layer.b.double()
    np.testing.assert_allclose(out32.detach().numpy(), out64.detach().numpy(), rtol=0, atol=1e-6)
    w = torch.randn(10, 3)
    (g32,) = torch.autograd.grad((out32 * w).sum(), f32)
    (g64,) = torch.autograd.grad((out64 * w.double()).sum(), f64)
    assert torch.isfinite(g32).all()
    np.testing.assert_allclose(g32.numpy(), g64.numpy(), rtol=0, atol=1e-5)


def test_minibatch_discrimination_init_spreads_the_batch():
    """Reference init: the mean nearest-neighbour L1 distance per kernel is 2 and the features
    average 0 on the init batch. Raw N(0, 0.05) weights on the 2-D discriminator's features would
    put every pair within ~0.01, so that each feature sat near its maximum N − 1."""
    torch.manual_seed(0)
    from gan_eval_models.datasets import get_dataset

    _, D = build_models("gan2014", SPECS["ring"], minibatch_disc=True)
    x = get_dataset("ring").sample(500, torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = D.body(x)
        raw = D.mbd.distances(h)
        D.init_minibatch_disc(x)
        dist = D.mbd.distances(h)
    eye = torch.eye(500, dtype=torch.bool)
    nn_raw = raw.masked_fill(eye, float("inf")).amin(-1).mean(-1)
    nn_init = dist.masked_fill(eye, float("inf")).amin(-1).mean(-1)
    assert nn_raw.max() < 0.05  # the saturated start the init removes
    np.testing.assert_allclose(nn_init.numpy(), 2.0, rtol=1e-4)
    with torch.no_grad():
        assert D.mbd(h).mean(0).abs().max() < 1e-4


def test_minibatch_discrimination_reads_a_pooled_vector():
    """MBD sits on the channel means of the last conv map (the reference's global pooling), so
    the D = 1/2 G net of Metz et al. (1,889 parameters) stays small instead of growing 69x."""
    spec = dataset_spec("stacked-mnist")
    _, plain = build_models("dcgan-small", spec, width=4)
    _, mbd = build_models("dcgan-small", spec, width=4, minibatch_disc=True)
    n_plain, n_mbd = (sum(p.numel() for p in d.parameters()) for d in (plain, mbd))
    assert n_plain == 1889 and n_mbd < 1.25 * n_plain
    assert mbd.mbd.theta.shape[0] == 16  # 4w = 16 channel means, not 16·4·4 flat features
    x = torch.randn(6, 3, 28, 28)
    assert mbd(x).shape == (6, 1)
    _, dc = build_models("dcgan", spec, minibatch_disc=True)
    assert dc.mbd.theta.shape[0] == 128


def test_runs_of_another_minibatch_layer_are_neither_resumed_nor_reused(monkeypatch, tmp_path):
    """A change of the layer's computation (MBD_REVISION) changes a minibatch-discrimination run's
    identity, so its checkpoint is refused for resume and reproduce trains it again; plain runs
    keep theirs."""
    import json

    from gan_eval_models import train as T
    from gan_eval_models.reproduce import common

    mbd = T.TrainConfig(model="gan2014", dataset="ring", steps=5, out="", minibatch_disc=True).validate()
    plain = T.TrainConfig(model="gan2014", dataset="ring", steps=5, out="").validate()
    before = [T.run_identity(c, c.resolved()) for c in (mbd, plain)]
    monkeypatch.setattr(T, "MBD_REVISION", "a later layer")
    after = [T.run_identity(c, c.resolved()) for c in (mbd, plain)]
    assert before[0] != after[0] and before[1] == after[1]

    trained = []
    monkeypatch.setattr(T, "has_checkpoint", lambda run_dir: True)
    monkeypatch.setattr(T, "train", lambda cfg, **kw: trained.append(kw) or {"steps": cfg.steps})
    run = tmp_path / "r"
    run.mkdir()
    old = {"model": "gan2014", "dataset": "ring", "steps": 5, "minibatch_disc": True}
    (run / "reproduce_done.json").write_text(json.dumps({"settings": old, "summary": {"steps": 5}}))
    common.ensure_trained(tmp_path, "r", model="gan2014", dataset="ring", steps=5, minibatch_disc=True)
    assert trained, "a run marked done by an earlier layer was reused"


def test_losses_match_textbook_formulas_and_stay_finite():
    """Against σ-based formulas (Goodfellow 2014 eq. 1 and §3; Mao 2017 eq. 2) on moderate logits."""
    r = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    f = torch.tensor([-0.5, 0.7, -2.5], dtype=torch.float64)
    s = torch.sigmoid
    d = 0.5 * (-torch.log(s(r)).mean() - torch.log(1 - s(f)).mean())
    assert torch.allclose(L.discriminator_loss(r, f, "non-saturating"), d)
    assert torch.allclose(L.discriminator_loss(r, f, "minimax"), d)
    assert torch.allclose(L.generator_loss(f, "minimax"), torch.log(1 - s(f)).mean())
    assert torch.allclose(L.generator_loss(f, "non-saturating"), -torch.log(s(f)).mean())
    assert torch.allclose(L.discriminator_loss(r, f, "least-squares"), 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean())
    assert torch.allclose(L.generator_loss(f, "least-squares"), 0.5 * ((f - 1) ** 2).mean())
    big = torch.tensor([200.0, -200.0])  # σ saturates to 0/1 in float32: log formulas would give inf
    for name in L.LOSSES:
        assert torch.isfinite(L.discriminator_loss(big, -big, name)) and torch.isfinite(L.generator_loss(big, name))
    assert L.generator_loss(torch.tensor([-200.0]), "non-saturating") == pytest.approx(200.0)
    with pytest.raises(GanEvalError, match="known losses: minimax, non-saturating, least-squares"):
        L.generator_loss(f, "hinge")


def test_sgan_and_acgan_losses_against_softmax():
    logits = torch.tensor([[1.0, -0.5, 0.2, 0.3], [0.1, 2.0, -1.0, -0.7]], dtype=torch.float64)  # K=3 + fake
    p = torch.softmax(logits, 1)
    y = torch.tensor([2, 1])
    d = -torch.log(p[[0, 1], y]).mean() + 0.5 * (-torch.log(1 - p[:, 3]).mean() - torch.log(p[:, 3]).mean())
    assert torch.allclose(L.sgan_discriminator_loss(logits, y, logits, logits), d)
    assert torch.allclose(L.sgan_generator_loss(logits, "non-saturating"), -torch.log(1 - p[:, 3]).mean())
    assert torch.allclose(L.sgan_generator_loss(logits, "minimax"), torch.log(p[:, 3]).mean())
    with pytest.raises(GanEvalError, match="not 'least-squares'"):
        L.sgan_generator_loss(logits, "least-squares")
    out = logits  # AC-GAN: column 0 source, 1..3 classes
    q = torch.softmax(out[:, 1:], 1)
    ce = -torch.log(q[[0, 1], y]).mean()
    expected = L.discriminator_loss(out[:, 0], out[:, 0], "minimax") + ce
    assert torch.allclose(L.acgan_discriminator_loss(out, y, out, y, "minimax"), expected)


def test_truncation():
    """Truncated N(0,1) at ψ=1 has variance 1 − 2ψφ(ψ)/(2Φ(ψ)−1) = 0.29113 (closed form)."""
    g = torch.Generator().manual_seed(0)
    z = sample_latent(20000, 10, "gaussian", g, truncation=1.0)
    assert z.abs().max() <= 1.0
    psi = 1.0
    phi = math.exp(-psi**2 / 2) / math.sqrt(2 * math.pi)
    var = 1 - 2 * psi * phi / math.erf(psi / math.sqrt(2))
    assert abs(z.var().item() / var - 1) < 0.02
    u = sample_latent(20000, 4, "uniform", g)
    assert u.abs().max() <= math.sqrt(3) and abs(u.var().item() - 1) < 0.03
    ut = sample_latent(20000, 4, "uniform", g, truncation=0.5)
    assert ut.abs().max() <= 0.5 and abs(ut.var().item() / (0.25 / 3) - 1) < 0.03
    a = sample_latent(7, 3, "gaussian", torch.Generator().manual_seed(5), truncation=0.3)
    b = sample_latent(7, 3, "gaussian", torch.Generator().manual_seed(5), truncation=0.3)
    assert torch.equal(a, b)
    for bad in (0, -1.0, float("nan"), "x"):
        with pytest.raises(GanEvalError, match="truncation must be a positive number"):
            sample_latent(2, 2, "gaussian", g, truncation=bad)
    with pytest.raises(GanEvalError, match="unknown latent distribution"):
        sample_latent(2, 2, "cauchy", g)


def test_gan2014_schedule_follows_the_yaml():
    """lr 0.1 / 1.000004^t (floor 1e-6); momentum 0.5 → 0.7 linearly over epochs 1..250."""
    assert schedule(0, 0.1, 100, 50000) == (0.1, 0.5)
    lr, m = schedule(1_000_000, 0.1, 100, 50000)
    assert lr == pytest.approx(0.1 * math.exp(-1_000_000 * math.log(1.000004))) and m == 0.7
    assert schedule(500 * 125, 0.1, 100, 50000)[1] == pytest.approx(0.5 + 0.2 * 124 / 249)
    assert schedule(10**9, 0.1, 100, 50000)[0] == 1e-6


def test_gan2014_paper_architecture():
    G, D = build_models("gan2014", SPECS["mnist"])
    assert G.latent == "uniform" and G.latent_dim == 100
    assert [m.out_features for m in G.net if isinstance(m, torch.nn.Linear)] == [1200, 1200, 784]
    maxouts = [m for m in D.body if m.__class__.__name__ == "Maxout"]
    assert [(m.out_features, m.pieces) for m in maxouts] == [(240, 5), (240, 5)]
    assert [m.p for m in D.body if isinstance(m, torch.nn.Dropout)] == [0.2, 0.5, 0.5]
    assert get_model("gan2014").defaults(SPECS["mnist"])["loss"] == "non-saturating"
    assert get_model("lsgan").defaults(SPECS["mnist"])["loss"] == "least-squares"


def test_dcgan_64px_stacked_mnist():
    G, D = build_models("dcgan", dataset_spec("stacked-mnist", image_size=64), width=4)
    x = G(torch.randn(3, 100))
    assert x.shape == (3, 3, 64, 64) and D(x).shape == (3, 1)
    assert [m.out_channels for m in G.net if isinstance(m, torch.nn.ConvTranspose2d)] == [16, 8, 4, 3]


@pytest.mark.parametrize("width, d_params", [(2, 585), (4, 1889)])
def test_dcgan_small_matches_the_unrolled_gan_nets(width, d_params):
    """Layer sizes of PacGAN's code for Metz et al.'s Stacked MNIST nets: D with w, 2w, 4w
    channels (585 weights at w = 2: 3·3·3·2+2, 4, 3·3·2·4+4, 8, 3·3·4·8+8, 16, 4·4·8+1)."""
    spec = dataset_spec("stacked-mnist")
    G, D = build_models("dcgan-small", spec, width=width)
    assert (G.latent_dim, G.latent) == (256, "gaussian")
    x = G(torch.randn(4, 256))
    assert x.shape == (4, 3, 28, 28) and x.abs().max() <= 1.0
    assert D(x).shape == (4, 1)
    assert sum(p.numel() for p in D.parameters()) == d_params
    shapes, h = [], torch.randn(2, 256)
    for layer in G.net:
        h = layer(h)
        if isinstance(layer, (torch.nn.ConvTranspose2d, torch.nn.Conv2d)):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(32, 7, 7), (16, 14, 14), (8, 28, 28), (3, 28, 28)]
    _, D2 = build_models("dcgan-small", spec, width=width, pack=2, minibatch_disc=True)
    assert D2.body[0].in_channels == 6 and D2(x).shape == (2, 1)
    hp = get_model("dcgan-small").defaults(spec)
    assert (hp["lr"], hp["d_lr"], hp["betas"], hp["width"]) == (1e-4, 2e-4, (0.5, 0.99), 2)
    for other in ("cifar10", "ring"):
        with pytest.raises(GanEvalError, match="28x28 images only"):
            build_models("dcgan-small", SPECS[other])


def test_dcgan_veegan_has_the_parameter_counts_of_pacgans_nets():
    """PacGAN's VEEGAN-setting nets (Lin et al. 2018, Table 2: "4.51 M" G and "4.31 M" D parameters;
    exact counts from the reference layer shapes, VEEGAN_experiment/model.py: G 100·2048+2048,
    512·2 (bn), 5·5·512·256+256, 512, 5·5·256·128+128, 256, 5·5·128·64+64, 128, 5·5·64·3+3;
    D 5·5·3·64+64, 5·5·64·128+128, 256, 5·5·128·256+256, 512, 5·5·256·512+512, 1024, 2048+1)."""
    spec = dataset_spec("stacked-mnist")
    G, D = build_models("dcgan-veegan", spec)
    n_g, n_d = (sum(p.numel() for p in net.parameters()) for net in (G, D))
    assert (n_g, n_d) == (4_514_819, 4_310_401)
    assert (round(n_g / 1e6, 2), round(n_d / 1e6, 2)) == (4.51, 4.31)
    assert (G.latent_dim, G.latent, G.output_range) == (100, "uniform1", (0.0, 1.0))
    z = sample_latent(4096, 100, "uniform1", torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.99 and z.max() > 0.99
    from gan_eval_models.models.layers import SameConvTranspose2d

    shapes, h = [], z[:2]
    for layer in G.net:
        h = layer(h)
        if isinstance(layer, (torch.nn.Unflatten, SameConvTranspose2d)):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(512, 2, 2), (256, 4, 4), (128, 7, 7), (64, 14, 14), (3, 28, 28)]
    x = G(z[:4])
    assert x.shape == (4, 3, 28, 28) and D(x).shape == (4, 1)
    _, D2 = build_models("dcgan-veegan", spec, pack=2)
    assert sum(p.numel() for p in D2.parameters()) == n_d + 5 * 5 * 3 * 64  # the first conv takes 6 channels
    hp = get_model("dcgan-veegan").defaults(spec)
    assert (hp["batch_size"], hp["lr"], hp["betas"]) == (64, 2e-4, (0.5, 0.999))


def test_same_convolutions_follow_tensorflow():
    """TensorFlow's SAME rule: output ⌈in / stride⌉, padding split ⌊total/2⌋ before, the rest after;
    conv2d_transpose is the adjoint (gradient) of that conv, checked as <conv x, y> = <x, convT y>."""
    from gan_eval_models.models.layers import SameConv2d, SameConvTranspose2d, same_padding

    assert same_padding(28, 14, 5, 2) == (1, 2) and same_padding(7, 4, 5, 2) == (2, 2)
    assert same_padding(28, 14, 3, 2) == (0, 1)
    torch.manual_seed(0)
    for size_in, size_out in ((28, 14), (14, 7), (7, 4), (4, 2)):
        conv = SameConv2d(3, 4, 5, 2, size_in, bias=False).double()
        convt = SameConvTranspose2d(4, 3, 5, 2, size_out, size_in, bias=False).double()
        convt.conv.weight.data.copy_(conv.conv.weight.data)
        x, y = torch.randn(2, 3, size_in, size_in, dtype=torch.float64), torch.randn(2, 4, size_out, size_out,
                                                                                     dtype=torch.float64)
        cx = conv(x)
        assert cx.shape[-1] == size_out and convt(y).shape[-1] == size_in
        assert torch.allclose((cx * y).sum(), (x * convt(y)).sum(), rtol=1e-12)
    # an explicit pixel: output row r of the SAME conv (28 px, k = 5) reads input rows 2r - 1 .. 2r + 3,
    # where PyTorch's symmetric padding 2 reads 2r - 2 .. 2r + 2
    conv = SameConv2d(1, 1, 5, 2, 28, bias=False).double()
    conv.conv.weight.data.fill_(1.0)
    x = torch.zeros(1, 1, 28, 28, dtype=torch.float64)
    x[0, 0, 3, 3] = 1.0
    y = conv(x)[0, 0]
    assert y.shape == (14, 14) and y[0, 0] == 1.0 and y[2, 2] == 1.0 and y[3, 3] == 0.0
    assert torch.nn.functional.conv2d(x, conv.conv.weight, stride=2, padding=2)[0, 0, 0, 0] == 0.0


def test_names_and_sizes():
    with pytest.raises(GanEvalError, match="known models: gan2014, dcgan, dcgan-small, dcgan-veegan, lsgan, acgan, sgan"):
        build_models("wgan", SPECS["mnist"])
    assert layout(28) == (7, 2) and layout(32) == (4, 3) and layout(64) == (4, 4)
    with pytest.raises(GanEvalError, match="image side of 28 or 4"):
        layout(48)
