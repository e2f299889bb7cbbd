"""Seed-batched training of the 2-D GAN against separate runs, side by side.

Run: ``python -m benchmarks.bench_seeds [--seeds 10] [--steps 30] [--repeats 2] [--no-append]``.
No timing is asserted.

Rows (gan2014 on the ring, PacGAN's MLPs, batch 100, one torch thread each):

* ``train()`` run once per seed, one after the other (what ``reproduce`` does with ``--jobs 1``);
* :class:`gan_eval_models.seed_batch.SeedBatch` with all seeds at once, the trainer's protocol;
* the same with PacGAN's paper protocol (fixed training set, simultaneous updates).

Reports seed-steps per second (seeds × steps / wall seconds) and the speed-up over separate
runs. Each timing is the fastest of ``--repeats`` runs (the machine may be shared: the load
average is printed). Writes its table to ``benchmarks/RESULTS.md`` under "## Seed-batched training
(issue 18)", replacing that section from an earlier run.
"""

import argparse
import datetime
import os
import tempfile
import time

import torch

HEADING = "## Seed-batched training (issue 18)"


def _separate(n_seeds, steps):
    from gan_eval_models.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for seed in range(n_seeds):
            train(TrainConfig("gan2014", "ring", steps=steps, out=f"{tmp}/s{seed}", seed=seed, quiet=True,
                              checkpoint_every=10**9, log_every=10**9, eval_samples=10))
        return time.perf_counter() - start


def _batched(n_seeds, steps, protocol):
    from gan_eval_models.seed_batch import SeedBatch

    batch = SeedBatch("ring", list(range(n_seeds)), protocol=protocol)
    start = time.perf_counter()
    for _ in range(steps):
        batch.train_step()
    return time.perf_counter() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    rows = []
    separate = min(_separate(args.seeds, args.steps) for _ in range(args.repeats))
    for label, seconds in (
        (f"train(), {args.seeds} separate runs", separate),
        (f"SeedBatch, {args.seeds} seeds at once (trainer protocol)",
         min(_batched(args.seeds, args.steps, "trainer") for _ in range(args.repeats))),
        (f"SeedBatch, {args.seeds} seeds at once (PacGAN paper protocol)",
         min(_batched(args.seeds, args.steps, "paper") for _ in range(args.repeats))),
    ):
        rate = args.seeds * args.steps / seconds
        rows.append(f"| {label} | {seconds:.2f} | {rate:.1f} | {separate / seconds:.2f}x |")
    table = "\n".join([
        HEADING, "",
        f"{datetime.date.today().isoformat()}, gan2014 on the 2-D ring, {args.seeds} seeds x {args.steps} steps, "
        f"1 torch thread, load average {load:.1f} on {os.cpu_count()} cores (the machine was shared), fastest of "
        f"{args.repeats}.", "",
        "| training | wall s | seed-steps / s | vs separate |", "|---|---|---|---|", *rows, "",
    ])
    print(table)
    if not args.no_append:
        _write_section(table)


def _write_section(table):
    from pathlib import Path

    path = Path(__file__).resolve().parent / "RESULTS.md"
    text = path.read_text() if path.exists() else ""
    if HEADING in text:
        head, _, rest = text.partition(HEADING)
        nxt = rest.find("\n## ")
        text = head + table + (rest[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + table
    path.write_text(text.rstrip() + "\n")


if __name__ == "__main__":
    main()
