"""Split-bf16 ("bf16x3") convolutions and the choice of precision.

References: the bf16 split checked against its closed-form error bound; one convolution against
the same convolution in float64; the whole network with the shared reference weights against its
own float32 path (features within 1e-4 relative, measured 5e-5: docs/precision.md). On a CPU
without a bf16 matrix engine both forms of the split run in float32, which gives the engine's
numbers up to the order of summation.
"""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_eval import devices
from gan_eval.errors import GanEvalError
from gan_eval.features import extract, fused, preprocess
from gan_eval.features import weights as W
from gan_eval.features.inception import BasicConv2d
from gan_eval.inputs import open_input


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_split_halves_are_bf16_and_within_the_bound():
    t = torch.randn(100_000, generator=torch.Generator().manual_seed(0)) * torch.logspace(-6, 6, 100_000)
    hi, lo = fused.split_bf16(t)
    for part in (hi, lo):
        assert part.dtype == torch.float32
        assert torch.equal(part.to(torch.bfloat16).float(), part)  # exactly representable in bf16
    # bf16's unit roundoff is 2^-8: |t - hi| <= 2^-8 |t| and |t - hi - lo| <= 2^-8 |t - hi| <= 2^-16 |t|
    err = (t.double() - hi.double() - lo.double()).abs()
    assert float((err / t.double().abs()).max()) <= 2.0 ** -16
    assert float(((t - hi).abs() / t.abs()).max()) > 2.0 ** -10  # the tail is needed


@pytest.mark.parametrize("engine", [True, False])
def test_one_convolution_at_split_accuracy(engine):
    """A folded 3x3 convolution (192 -> 64 channels) in both forms against float64: within
    3 * 2^-16 relative per product, where plain bf16 operands are ~100x further off."""
    torch.manual_seed(0)
    layer = BasicConv2d(192, 64, 3, padding=1).eval()
    layer.bn.running_var.uniform_(0.5, 1.5)
    conv = fused.ConvReLU(layer)
    x = torch.rand(2, 192, 17, 17).contiguous(memory_format=torch.channels_last)
    w, b = conv.conv.weight, conv.conv.bias
    ref = F.relu(F.conv2d(x.double(), w.double(), b.double(), padding=1))
    with torch.inference_mode():
        with fused.split_precision(engine=engine):
            split = conv(x)
        plain = conv(x)
    bf16 = F.relu(F.conv2d(x.bfloat16().float(), w.bfloat16().float(), b, padding=1))
    assert split.dtype == torch.float32
    assert rel_err(split, ref) <= 3 * 2.0 ** -16
    assert rel_err(plain, ref) <= 1e-5
    assert rel_err(bf16, ref) > 30 * rel_err(split, ref)
    assert not fused._SPLIT["on"] and torch.backends.mkldnn.conv.fp32_precision == "none"  # restored


def test_split_network_features_match_float32_with_reference_weights(torchscript_weights, fixtures_dir):
    """pool3 of 4 fixture images through the fused network: bf16x3 within 1e-4 of float32 (5e-5
    measured), both split forms within 2e-5 of each other; plain bf16 is > 1e-3 off."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = W.load(torchscript_weights, quiet=True)
    src = open_input(fixtures_dir / "real")
    x = torch.stack([preprocess.tensorflow(src.load(i)) for i in range(4)]).contiguous(memory_format=torch.channels_last)
    net = extract._model_on(loaded, torch.device("cpu"))
    with torch.inference_mode():
        ref = net(x)["pool3"]
        with fused.split_precision(engine=False):
            emulated = net(x)["pool3"]
        with fused.split_precision(engine=True):
            engine = net(x)["pool3"]
    assert rel_err(emulated, ref) <= 1e-4
    assert rel_err(engine, ref) <= 1e-4
    assert rel_err(engine, emulated) <= 2e-5


def test_auto_falls_back_to_fp32_without_amx(monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_bf16_engine", lambda: False)
    assert extract.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(devices, "cpu_has_bf16_engine", lambda: True)
    assert extract.resolve_precision("auto", "cpu") == "bf16x3"
    for name in extract.PRECISIONS:
        assert extract.resolve_precision(name, "cpu") == name  # explicit names are kept, fp32 forces fp32
    with pytest.raises(GanEvalError, match="unknown precision"):
        extract.resolve_precision("fp16", "cpu")


def test_engine_detection_needs_the_amx_flags(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    for flags, expected in ((set(), False), ({"avx512f", "avx512_bf16"}, False), ({"amx_bf16", "amx_tile"}, True)):
        monkeypatch.setattr(devices, "_cpu_flags", lambda flags=flags: flags)
        devices.cpu_has_bf16_engine.cache_clear()
        assert devices.cpu_has_bf16_engine() is expected
    devices.cpu_has_bf16_engine.cache_clear()


def test_fid_reports_the_precision_that_ran(monkeypatch, random_weights):
    from gan_eval.evaluate import fid

    monkeypatch.setattr(devices, "cpu_has_bf16_engine", lambda: False)
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8) for _ in range(2))
    r = fid(a, b, weights=random_weights, device="cpu", precision="auto", progress=False, quiet=True)
    assert r["network_precision"] == "fp32"
