"""The TF32 emulation of benchmarks/bench_precision.py, against TF32's definition: float32 with the
mantissa cut to 10 bits, rounded to nearest, ties to even (NVIDIA's A100 whitepaper)."""

import torch

from benchmarks.bench_precision import round_to_tf32, tf32_emulated_network
from gan_eval.features.inception import FIDInceptionV3


def test_round_to_tf32_ties_to_even_and_keeps_ten_mantissa_bits():
    ulp = 2.0 ** -10  # TF32's spacing just above 1
    x = torch.tensor([1.0, 1 + ulp, 1 + ulp / 2, 1 + 3 * ulp / 2, 1 + ulp / 4, 1 + 3 * ulp / 4, -(1 + 3 * ulp / 4),
                      float("inf"), 3.0e38])
    want = torch.tensor([1.0, 1 + ulp, 1.0, 1 + 2 * ulp, 1.0, 1 + ulp, -(1 + ulp), float("inf"), 3.0e38])
    got = round_to_tf32(x)
    assert torch.equal(got[:-1], want[:-1])
    assert got[-1] > 2.9e38 and torch.isfinite(got[-1])
    assert torch.isnan(round_to_tf32(torch.tensor([float("nan")]))).all()
    y = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    r = round_to_tf32(y)
    assert ((r.view(torch.int32) & 0x1FFF) == 0).all()
    assert ((r - y).abs() <= y.abs() * 2.0 ** -11).all()
    assert (r != y).float().mean() > 0.99  # float32 values almost never fit in 10 bits


def test_emulated_network_rounds_weights_and_inputs_of_every_convolution():
    model = FIDInceptionV3(with_logits=False).eval()
    net = tf32_emulated_network(model)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 94
    assert all(((m.weight.view(torch.int32) & 0x1FFF) == 0).all() for m in convs)
    seen = []
    convs[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    with torch.inference_mode():
        net(torch.rand(1, 3, 75, 75) * 2 - 1)
    assert ((seen[0].view(torch.int32) & 0x1FFF) == 0).all()
    assert not ((model.Conv2d_1a_3x3.conv.weight.view(torch.int32) & 0x1FFF) == 0).all()  # the model is untouched
