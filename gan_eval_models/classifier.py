"""The MNIST digit classifier used to count Stacked MNIST modes.

A small CNN (two 3x3 conv layers, 32 and 64 channels, each followed by batch norm, ReLU and 2x2
max-pooling, then a 128-unit hidden layer with dropout 0.25 and 10 logits; 421k parameters). It takes float pixels in [0, 1] of
shape (B, 1, 28, 28) and normalises them itself. The weights ship inside the package
(``gan_eval_models/weights/mnist_classifier.pt``); they were produced by
``python -m gan_eval_models.train_classifier`` (seeded) and are checked against
:data:`WEIGHTS_SHA256` on every load.
"""

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan_eval.errors import WeightsError

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "mnist_classifier.pt"
WEIGHTS_SHA256 = "d114014939e2aa6411aef4c34a2f043c1d713a7f261c7d0ea6eaddab457ae8ff"

# MNIST training-set pixel mean and standard deviation (pixels scaled to [0, 1]).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class MnistClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 32x14x14
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # 64x7x7
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10),
        )

    def forward(self, x):
        """Logits (B, 10) for pixels ``x`` in [0, 1] of shape (B, 1, 28, 28)."""
        return self.head(self.features((x - MNIST_MEAN) / MNIST_STD))


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_classifier(device=None, path=None, sha256=WEIGHTS_SHA256):
    """The committed MNIST classifier in eval mode, on `device` (default CPU).

    Raises WeightsError if the weight file is missing, its SHA-256 differs from `sha256`
    (pass ``sha256=None`` to skip the check, e.g. for a file you trained yourself), or it does
    not hold this architecture's weights.
    """
    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise WeightsError(f"{path}: MNIST classifier weights not found (reinstall gan-eval, or train them with "
                           "`python -m gan_eval_models.train_classifier`)")
    if sha256 is not None:
        digest = file_sha256(path)
        if digest != sha256:
            raise WeightsError(f"{path}: SHA-256 {digest} does not match the expected {sha256} "
                               "(corrupt or foreign weight file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = MnistClassifier()
        model.load_state_dict(state)
    except Exception as e:  # any unreadable or mismatched file is the same user-fixable problem
        raise WeightsError(f"{path}: not a weight file for the MNIST classifier ({type(e).__name__}: {e})") from None
    return model.to(device or "cpu").eval()


@torch.no_grad()
def predict_digits(model, images, batch_size=1000):
    """Predicted digits (int64 array) for uint8 images (N, 28, 28) on the model's device."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.array(images[start:start + batch_size], dtype=np.float32)).to(device).div_(255.0)
        out.append(model(x[:, None]).argmax(dim=1).cpu())
    return torch.cat(out).numpy() if out else np.empty(0, dtype=np.int64)
