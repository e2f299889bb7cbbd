"""The three resize modes against the peers' own preprocessing code (independent oracles)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_eval.features import preprocess


@pytest.fixture(params=[(32, 32), (28, 40), (299, 299), (512, 384)])
def image(request):
    h, w = request.param
    return np.random.default_rng(h * 1000 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_tensorflow_mode_matches_torch_fidelity_tf1_port(image):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = torch.from_numpy(image.transpose(2, 0, 1)).float()[None]
    ref = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)[0]
    ref = (ref - 128) / 128
    ours = preprocess.tensorflow(image)
    assert ours.shape == (3, 299, 299) and ours.dtype == torch.float32
    assert float((ours - ref).abs().max()) < 1e-5


def test_pytorch_fid_mode_matches_its_steps(image):
    """pytorch-fid: ToTensor (x/255), F.interpolate bilinear align_corners=False, then 2x − 1."""
    from torchvision.transforms.functional import to_tensor

    x = to_tensor(image)[None]
    ref = 2 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1
    assert torch.equal(preprocess.pytorch_fid(image), ref[0])


def test_clean_mode_matches_clean_fid_resizer(image):
    from cleanfid.resize import make_resizer

    resizer = make_resizer("PIL", False, "bicubic", (299, 299))
    ref = torch.from_numpy(resizer(image).transpose(2, 0, 1).copy())
    ref = (ref - 128) / 128  # clean-fid's Inception wrapper normalises this way before the network
    assert float((preprocess.clean(image) - ref).abs().max()) < 1e-6


def test_tf1_resize_is_not_pytorch_bilinear():
    """The two bilinear conventions differ (half-pixel centres), which is why both modes exist."""
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    a = preprocess.tensorflow(img)
    b = preprocess.pytorch_fid(img)
    assert float((a - b).abs().max()) > 0.05


def test_unknown_mode():
    from gan_eval import GanEvalError

    with pytest.raises(GanEvalError, match="unknown resize mode 'bicubic'"):
        preprocess.get("bicubic")


@pytest.mark.parametrize("mode", list(preprocess.MODES))
def test_batched_device_path_matches_the_per_image_path(mode):
    """preprocess.batch (the streaming path, here with device="cpu") against ArraySource + the
    per-image function, the file path's code: ≤ 1e-6 on the [-1, 1] pixels, for each layout, gray
    and alpha channels, upsampling and (antialiased) downsampling, and float inputs in [0, 1]."""
    from gan_eval.inputs import ArraySource

    rng = np.random.default_rng(1)
    cases = [rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8),           # NHWC
             rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),               # NHW (MNIST)
             rng.integers(0, 256, (2, 3, 300, 417), dtype=np.uint8),          # NCHW, downsampled
             rng.integers(0, 256, (2, 17, 40, 4), dtype=np.uint8),            # RGBA
             rng.random((2, 3, 40, 33), dtype=np.float32),                    # floats, quantised
             torch.rand(2, 3, 24, 24, dtype=torch.float64)]
    for images in cases:
        src = ArraySource(images)
        ref = torch.stack([preprocess.get(mode)(src.load(i)) for i in range(len(src))])
        out = preprocess.batch(images, mode, name="images")
        assert out.shape == ref.shape and out.dtype == torch.float32 and out.device.type == "cpu"
        assert float((out - ref).abs().max()) <= 1e-6, images.shape


def test_batched_path_refuses_what_array_source_refuses():
    from gan_eval.errors import GanEvalError

    with pytest.raises(GanEvalError, match=r"\[0, 1\]"):
        preprocess.batch(torch.full((1, 3, 8, 8), 1.5))
    with pytest.raises(GanEvalError, match="NaN"):
        preprocess.batch(torch.full((1, 3, 8, 8), float("nan")))
    with pytest.raises(GanEvalError, match="dtype"):
        preprocess.batch(torch.zeros((1, 3, 8, 8), dtype=torch.int32))
    with pytest.raises(GanEvalError, match="expected images shaped"):
        preprocess.batch(torch.zeros((1, 5, 8, 8), dtype=torch.uint8))
