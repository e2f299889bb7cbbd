"""Quality check of the reference trainers, run by hand (not in CI):

    nice -n 10 python -m gan_eval_models.quality_check ring  [--steps 10000] [--out runs/qc-ring]
    nice -n 10 python -m gan_eval_models.quality_check mnist [--steps 45000] [--out runs/qc-mnist]

ring:  the 2-D MLP GAN (gan2014 on ``ring``, non-saturating loss, PacGAN's settings) must capture
       at least 6 of the 8 modes: a mode counts when at least one of 2,500 samples lies within
       3σ of its centre (PacGAN/VEEGAN protocol).
mnist: the 2014 GAN on MNIST must reach a Parzen log-likelihood of at least 200 nats on the
       10,000 test images (paper: 225 ± 2). Protocol of Goodfellow et al. 2014, through
       :func:`gan_eval.metrics.parzen.parzen_protocol`: 10,000 generated samples as centres,
       σ chosen on 1,000 validation images (train[50000:51000]) over logspace(−1, 0, 10), then
       the mean over the test set ± its standard error.

Options: ``--threads 1`` (much faster on a shared machine), ``--resume`` (continue the check's
run), ``--evaluate-only`` (score the run in --out as it is), and ``--lr/--optimizer/--update/
--batch-size`` to try other settings. Prints one JSON object with the numbers, the wall time of
training and of evaluation, and "passed"; exits 1 when the check fails.

With a run that keeps a moving average of G's weights (gan2014's default on images), the mnist
check scores the average (what ``sample`` draws) and also the raw G.

Status (see the README): both checks pass. Ring: 8/8 modes. MNIST: 220.3 and 218.5 ± 2.2 nats
(seeds 0 and 1) after 45,000 steps with the default recipe (a 0.9999 average of G's weights; the
raw G scores far less); the port of mnist.yaml's SGD recipe (``--optimizer sgd``) mode-collapses
(−287 ± 1 nats after 4,000 steps).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gan_eval.metrics.parzen import parzen_protocol

from . import checkpoint as ckpt
from .datasets import get_dataset
from .sample import sample
from .train import LOG, MNIST_TRAIN, TrainConfig, read_log, train

DEFAULT_STEPS = {"ring": 10_000, "mnist": 45_000}
RING_MIN_MODES = 6
MNIST_MIN_LL = 200.0


def _train(cfg, args):
    """Train (or, with --evaluate-only, just read the run's last logged losses); returns (summary, seconds)."""
    if args.evaluate_only:
        if not (Path(args.out) / LOG).is_file():
            sys.exit(f"quality_check: no {LOG} in {args.out}; --evaluate-only scores a run that exists")
        rows = [r for r in read_log(args.out) if "d_loss" in r]
        last = rows[-1] if rows else {}
        return {"final": {k: last.get(k) for k in ("d_loss", "g_loss")}, "steps": last.get("step"),
                "train_time_total_s": last.get("elapsed_s")}, 0.0
    t = time.perf_counter()
    summary = train(cfg, resume=args.resume, overwrite=not args.resume)
    return summary, time.perf_counter() - t


def check_ring(args):
    cfg = TrainConfig("gan2014", "ring", steps=args.steps, out=args.out, seed=args.seed, device=args.device,
                      checkpoint_every=1000, eval_every=1000, quiet=args.quiet,
                      lr=args.lr, d_lr=args.d_lr, optimizer=args.optimizer, update=args.update, batch_size=args.batch_size)
    summary, train_s = _train(cfg, args)
    t = time.perf_counter()
    points = sample(args.out, 2500, seed=args.seed + 100)
    counts = get_dataset("ring").mode_counts(points)
    result = {"check": "ring", "steps": summary.get("steps", args.steps),
              **{k: counts[k] for k in ("modes_captured", "n_modes", "high_quality_fraction", "reverse_kl")},
              "histogram": counts["histogram"].tolist(), "train_wall_s": round(train_s, 1), "train_time_total_s": summary.get("train_time_total_s"),
              "eval_wall_s": round(time.perf_counter() - t, 1), "passed": counts["modes_captured"] >= RING_MIN_MODES,
              "train_summary_final": summary["final"]}
    return result


def check_mnist(args):
    cfg = TrainConfig("gan2014", "mnist", steps=args.steps, out=args.out, seed=args.seed, device=args.device,
                      data_dir=args.data_dir, checkpoint_every=1000, eval_every=args.eval_every, quiet=args.quiet,
                      lr=args.lr, d_lr=args.d_lr, optimizer=args.optimizer, update=args.update, batch_size=args.batch_size,
                      ema=args.ema, eval_samples=10_000)  # the logged curve uses the protocol's 10,000 centres
    summary, train_s = _train(cfg, args)
    t = time.perf_counter()
    centres = sample(args.out, 10_000, seed=args.seed + 100).reshape(10_000, -1) / 255.0
    train_set = get_dataset("mnist", args.data_dir, "train")
    test_set = get_dataset("mnist", args.data_dir, "test")
    validation = train_set.images[MNIST_TRAIN : MNIST_TRAIN + 1000].reshape(1000, -1) / 255.0
    test = test_set.images.reshape(len(test_set), -1) / 255.0
    r = parzen_protocol(centres, validation, test)
    extra = {}
    if ckpt.read_json(Path(args.out) / ckpt.CONFIG).get("resolved", {}).get("ema"):
        raw = sample(args.out, 10_000, seed=args.seed + 100, average=False).reshape(10_000, -1) / 255.0
        q = parzen_protocol(raw, validation, test)
        extra = {"raw_g_parzen_ll": q["mean"], "raw_g_parzen_sem": q["sem"], "raw_g_sigma": q["sigma"]}
    return {"check": "mnist", "steps": summary.get("steps", args.steps), "parzen_ll": r["mean"], "parzen_sem": r["sem"], "sigma": r["sigma"],
            **extra,
            "validation_scores": dict(zip(r["sigmas"], r["validation_scores"])),
            "train_wall_s": round(train_s, 1), "train_time_total_s": summary.get("train_time_total_s"),
            "eval_wall_s": round(time.perf_counter() - t, 1), "passed": r["mean"] >= MNIST_MIN_LL,
            "train_summary_final": summary["final"]}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m gan_eval_models.quality_check", description=__doc__.split("\n\n")[0])
    p.add_argument("which", choices=("ring", "mnist"))
    p.add_argument("--steps", type=int)
    p.add_argument("--out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--data-dir")
    p.add_argument("--eval-every", type=int, default=5000)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--lr", type=float, help="override the model's learning rate")
    p.add_argument("--d-lr", type=float, help="override the discriminator's learning rate")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="override the model's optimiser")
    p.add_argument("--update", choices=("alternating", "simultaneous"), help="override the update rule")
    p.add_argument("--batch-size", type=int, help="override the model's batch size")
    p.add_argument("--ema", type=float, help="override the decay of the moving average of G's weights (0: off)")
    p.add_argument("--evaluate-only", action="store_true", help="skip training: evaluate the run in --out as it is")
    p.add_argument("--resume", action="store_true", help="continue an interrupted check run")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    args.steps = args.steps or DEFAULT_STEPS[args.which]
    args.out = args.out or f"runs/qc-{args.which}"
    if args.threads:
        torch.set_num_threads(args.threads)
    result = (check_ring if args.which == "ring" else check_mnist)(args)
    result["torch_threads"] = torch.get_num_threads()
    result["config"] = {k: getattr(args, k) for k in ("lr", "d_lr", "optimizer", "update", "batch_size", "ema") if getattr(args, k) is not None}
    print(json.dumps(result, default=lambda o: o.tolist() if isinstance(o, (np.ndarray, np.generic)) else str(o)))
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
