"""Seeded random weights in pytorch-fid's pt_inception layout, for tests and benchmarks.

Where the real weight file is absent, comparing our network with a peer's only needs both to
run the same weights. Plain random convolutions make the activations of a 94-layer network
vanish or explode, so the batch-norm running statistics are calibrated on random inputs
(a data-dependent initialisation) to keep every layer's output near zero mean, unit variance.
"""

import torch

from .inception import FIDInceptionV3, conv_layers


def random_state_dict(seed=0, calibration_batch=8):
    gen = torch.Generator().manual_seed(seed)
    model = FIDInceptionV3(with_logits=True)
    with torch.no_grad():
        for layer in conv_layers(model):
            w = layer.conv.weight
            fan_in = w.shape[1] * w.shape[2] * w.shape[3]
            w.copy_(torch.randn(w.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            layer.bn.bias.copy_(torch.randn(layer.bn.bias.shape, generator=gen) * 0.1)
        model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=gen) / 2048 ** 0.5)
        model.fc.bias.copy_(torch.randn(model.fc.bias.shape, generator=gen) * 0.1)
        for layer in conv_layers(model):
            layer.bn.momentum = None  # cumulative average over the calibration pass
        model.train()
        model(torch.rand(calibration_batch, 3, 299, 299, generator=gen) * 2 - 1)
        for layer in conv_layers(model):
            layer.bn.momentum = 0.1
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def save_random_weights(path, seed=0):
    torch.save(random_state_dict(seed), path)
    return path
