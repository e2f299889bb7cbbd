"""The fused inference network (batch norm folded into the convolutions, oneDNN conv+ReLU on CPU)
against the plain FIDInceptionV3, an independent code path (separate Conv2d and BatchNorm2d).

Float32 round-off through 94 layers of the *random* test weights grows to ~1e-4 (the unfused
network itself differs that much from its float64 self), so the algebra is checked in float64
and the 1e-5 float32 bound with the reference TorchScript weights.
"""

import warnings

import numpy as np
import pytest
import torch

from gan_eval import extract_features
from gan_eval.features import fused as fused_mod
from gan_eval.features import preprocess
from gan_eval.features import weights as W
from gan_eval.features.fused import FusedInceptionV3, fold_batch_norm, fuse
from gan_eval.features.inception import BasicConv2d, FIDInceptionV3

OUTPUTS = ("pool3", "logits", "logits_unbiased")


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return W.load(path, quiet=True)


def _random_network(seed=0):
    """An FIDInceptionV3 in float64 with non-trivial batch-norm parameters and statistics."""
    gen = torch.Generator().manual_seed(seed)
    model = FIDInceptionV3(with_logits=True).double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen, dtype=torch.float64) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen, dtype=torch.float64) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=gen, dtype=torch.float64) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen, dtype=torch.float64) + 0.5)
    return model


def test_folding_matches_batch_norm_in_float64():
    """fold(w, BN) gives conv'(x) = BN(conv(x)) exactly in float64, through the whole network."""
    m64 = _random_network()
    net = fuse(m64)
    x = torch.rand(2, 3, 139, 139, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    with torch.inference_mode():
        ref, out = m64(x, outputs=OUTPUTS), net(x, outputs=OUTPUTS)
    assert float(ref["pool3"].abs().max()) > 0
    for name in OUTPUTS:
        assert out[name].dtype == torch.float64
        assert rel_err(out[name], ref[name]) <= 1e-10, name


def test_pool_branches_convolve_first_and_batches_run_in_chunks():
    """The rewrites beyond folding: 1x1 convolution before the average pool in the eight
    average-pooling branches (Mixed_7c max-pools and keeps pool-then-convolve), and CPU batches
    larger than CPU_CHUNK split into near-equal chunks and put back in order. Checked in float64
    against the plain network, image by image through a batch of 2 * CPU_CHUNK + 3."""
    m64 = _random_network(2)
    net = fuse(m64)
    pooled = [name for name, m in net.named_modules() if isinstance(m, fused_mod.ConvPoolReLU)]
    assert len(pooled) == 8 and "net.Mixed_7c.branch_pool" not in pooled
    assert isinstance(net.net.Mixed_7b.pool, torch.nn.Identity)
    assert not isinstance(net.net.Mixed_7c.pool, torch.nn.Identity)
    n = 2 * fused_mod.CPU_CHUNK + 3
    x = torch.rand(n, 3, 75, 75, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2 - 1
    sizes = []
    hook = net.net.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    with torch.inference_mode():
        ref, out = m64(x, outputs=OUTPUTS), net(x, outputs=OUTPUTS)
    hook.remove()
    assert sum(sizes) == n and len(sizes) == 3 and max(sizes) - min(sizes) <= 1  # near-equal chunks
    for name in OUTPUTS:
        assert out[name].shape == ref[name].shape == (n, ref[name].shape[1])
        assert rel_err(out[name], ref[name]) <= 1e-10, name
    # neighbouring images differ by far more than the tolerance, so swapped rows would fail above
    assert rel_err(ref["pool3"][1:], ref["pool3"][:-1]) > 1e-8


def test_single_layer_fold_formula():
    """w' = w·γ/√(var+ε), b' = β − mean·γ/√(var+ε), written out against BatchNorm2d's own forward."""
    gen = torch.Generator().manual_seed(1)
    layer = BasicConv2d(5, 7, 3, padding=1).double().eval()
    with torch.no_grad():
        for p in (layer.conv.weight, layer.bn.weight, layer.bn.bias, layer.bn.running_mean):
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        layer.bn.running_var.copy_(torch.rand(7, generator=gen, dtype=torch.float64) + 0.1)
    w, b = fold_batch_norm(layer)
    x = torch.randn(2, 5, 9, 9, generator=gen, dtype=torch.float64)
    expected = layer.bn(layer.conv(x))
    got = torch.nn.functional.conv2d(x, w, b, padding=1)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_float32_features_within_1e5_of_unfused(torchscript_weights):
    """Reference weights, float32 on CPU: the fused network (oneDNN path and plain path) vs the plain one."""
    model = _load(torchscript_weights).model
    net = fuse(model).to(memory_format=torch.channels_last)
    x = torch.rand(fused_mod.CPU_CHUNK + 2, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        ref = model(x)["pool3"]
        fast = net(x.contiguous(memory_format=torch.channels_last))["pool3"]
        saved = fused_mod._ONEDNN["ok"]
        fused_mod._ONEDNN["ok"] = False
        try:
            plain = net(x)["pool3"]
        finally:
            fused_mod._ONEDNN["ok"] = saved
    if torch.backends.mkldnn.is_available():
        assert all(m._packed is not None for m in net.modules() if isinstance(m, fused_mod.ConvReLU))
    assert rel_err(fast, ref) <= 1e-5
    assert rel_err(plain, ref) <= 1e-5


def test_extraction_uses_the_fused_network_and_agrees(torchscript_weights, fixtures_dir):
    """End to end (a DataLoader worker, batching) against the unfused network on the same images."""
    from gan_eval.features.extract import _DEVICE_MODELS
    from gan_eval.inputs import load_images

    images = load_images(fixtures_dir / "real")[:6]
    ours = extract_features(images, weights=torchscript_weights, batch_size=3, num_workers=1, progress=False)
    assert any(isinstance(m, FusedInceptionV3) for m in _DEVICE_MODELS.values())
    x = torch.stack([preprocess.tensorflow(im) for im in images])
    with torch.inference_mode():
        ref = _load(torchscript_weights).model(x)["pool3"]
    assert ours.shape == (6, 2048)
    assert rel_err(ours, ref) <= 1e-5


def test_fuse_leaves_the_model_alone_and_checks_its_input():
    model = _random_network(1).float()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = fuse(model)
    assert set(model.state_dict()) == set(before)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert net.has_logits and sum(isinstance(m, fused_mod.ConvReLU) for m in net.modules()) == 94
    with pytest.raises(TypeError, match="expected an FIDInceptionV3, got Linear"):
        fuse(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unknown outputs"):
        net(torch.zeros(1, 3, 75, 75), outputs=("pool4",))
    assert isinstance(model, FIDInceptionV3)


def test_bf16_autocast_covers_the_network_only(torchscript_weights, fixtures_dir):
    """precision="bf16" with num_workers=0: the images are resized in float32 (outside autocast),
    only the network runs in bf16. Reference: the same network under autocast on images
    preprocessed here in float32; a bf16 resize would differ by ~5e-2."""
    from gan_eval.features.extract import _model_on, load_network
    from gan_eval.inputs import load_images

    images = load_images(fixtures_dir / "real")[:3]
    loaded = _load(torchscript_weights)
    ours = extract_features(images, weights=loaded, batch_size=3, num_workers=0, precision="bf16", progress=False)
    net = _model_on(load_network(loaded), torch.device("cpu"))
    x = torch.stack([preprocess.tensorflow(im) for im in images]).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = net(x)["pool3"].float()
    assert rel_err(ours, ref) <= 1e-6
    with pytest.raises(Exception, match="unknown precision 'fp8'"):
        extract_features(images, weights=loaded, precision="fp8", progress=False)
