"""Train the MNIST classifier that counts Stacked MNIST modes.

    python -m gan_eval_models.train_classifier --data-dir ../shared/data/mnist \\
        --out gan_eval_models/weights/mnist_classifier.pt

Adam (lr 1e-3, halved each epoch), batch 128, 4 epochs over the 60,000 training images, seed 0;
about 5 minutes on two idle CPU cores. Prints the test accuracy on the 10,000 test images and the
file's SHA-256 (record it in ``classifier.WEIGHTS_SHA256`` when the weights are replaced).
"""

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from gan_eval.atomic import write_atomic
from gan_eval.errors import GanEvalError

from .classifier import MnistClassifier, file_sha256, predict_digits
from .datasets.mnist import load_mnist


def train(data_dir, out, epochs=4, batch_size=128, lr=1e-3, seed=0, quiet=False):
    """Train, save the state dict to `out`, and return ``{"test_accuracy", "sha256", ...}``."""
    x_train, y_train = load_mnist(data_dir, "train")
    x_test, y_test = load_mnist(data_dir, "test")
    x = torch.from_numpy(np.array(x_train, dtype=np.float32)).div_(255.0)[:, None]
    y = torch.from_numpy(np.array(y_train, dtype=np.int64))

    start = time.time()
    with torch.random.fork_rng(devices=[]):  # seeded init and dropout without touching the caller's RNG
        torch.manual_seed(seed)
        model = MnistClassifier()
        order_rng = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(len(x), generator=order_rng)
            total = 0.0
            for i in range(0, len(x), batch_size):
                idx = perm[i:i + batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            sched.step()
            if not quiet:
                print(f"epoch {epoch + 1}/{epochs}: train loss {total / len(x):.4f} ({time.time() - start:.0f} s)",
                      file=sys.stderr)
    model.eval()
    accuracy = float((predict_digits(model, x_test) == y_test).mean())
    write_atomic(out, lambda f: torch.save(model.state_dict(), f))
    return {"test_accuracy": accuracy, "sha256": file_sha256(out), "epochs": epochs, "seed": seed,
            "seconds": round(time.time() - start, 1), "out": str(out)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="folder with the four MNIST idx(.gz) files "
                   "(default: $GAN_EVAL_DATA, else ../shared/data/mnist)")
    p.add_argument("--out", required=True, help="where to write the weights (.pt)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        r = train(args.data_dir, args.out, args.epochs, args.batch_size, args.lr, args.seed)
    except GanEvalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"test accuracy {100 * r['test_accuracy']:.2f}% ({r['seconds']} s); sha256 {r['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
