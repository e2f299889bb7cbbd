"""Reproduce published tables in one call: train the reference GANs, score them, write the table.

=====================  ========================================================================
table                  what
=====================  ========================================================================
``goodfellow2014``     Goodfellow et al. 2014, Table 1 (MNIST Parzen log-likelihood)
``mode-collapse-2d``   PacGAN Table 1 / VEEGAN Table 1 (modes on the 2-D ring and grid)
``stacked-mnist``      VEEGAN / PacGAN Table 2, Unrolled GAN Table 2 (modes of 1000, Stacked MNIST)
``cyclegan``           CycleGAN on MNIST ↔ restyled MNIST: content accuracy, FID/KID, cycle error
``stackgan``           StackGAN on MNIST: Stage-I (16 px) vs Stage-I+II (32 px), classifier IS/FID
=====================  ========================================================================

:func:`reproduce` writes ``TABLE.md`` and ``TABLE.json`` (ours beside the published rows, the
papers and tables cited, settings, seeds, wall time) and PNG plots into `out`, and returns the
result dict. ``quick=True`` runs a tiny version (seconds) that only checks the pipeline.
"""

import importlib
import shutil
import tempfile
from pathlib import Path

from gan_eval.errors import GanEvalError

TABLES = {
    "goodfellow2014": "gan_eval_models.reproduce.goodfellow2014",
    "mode-collapse-2d": "gan_eval_models.reproduce.mode_collapse_2d",
    "stacked-mnist": "gan_eval_models.reproduce.stacked_mnist",
    "cyclegan": "gan_eval_models.reproduce.cyclegan",
    "stackgan": "gan_eval_models.reproduce.stackgan",
}


SETTINGS = ("default", "paper")
PAPER_SETTING_TABLES = ("mode-collapse-2d", "stacked-mnist")


def reproduce(table, out, quick=False, seeds=None, device=None, data_dir=None, work_dir=None, quiet=False, command="",
              jobs=1, setting="default", steps=None, time_limit=None):
    """Reproduce `table` into folder `out`; see the module docstring.

    setting: "default" (the table's short CPU budget) or "paper" (the paper's protocol and
    training length; mode-collapse-2d: PacGAN's, seed-batched; stacked-mnist: PacGAN's code's
    VEEGAN and D = ½ G settings; see docs/reproduce-protocols.md).
    steps: training steps per run instead of the setting's. time_limit: minutes of training after
    which the table is written with each row at the step it reached (paper setting; with a kept
    --work-dir the next call resumes from there).

    device: a torch device string (None: CUDA when present, else CPU); one torch does not know or this
    machine does not have raises GanEvalError before any work (:func:`gan_eval.devices.resolve_device`).
    seeds: number of training seeds (0, 1, ..., seeds - 1); default per table.
    jobs: training runs trained at once, each in its own process with one torch thread (CPU).
    work_dir: where the training runs (checkpoints) go. Default: a temporary folder deleted
    afterwards. With a kept folder, finished runs are reused when the command is run again.
    """
    if table not in TABLES:
        raise GanEvalError(f"unknown table {table!r}; known tables: {', '.join(TABLES)}")
    from gan_eval.devices import resolve_device

    resolve_device(device)  # an impossible device is refused before any training, whatever the table
    if seeds is not None and (isinstance(seeds, bool) or int(seeds) != seeds or seeds < 1):
        raise GanEvalError(f"seeds must be an integer >= 1, got {seeds!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise GanEvalError(f"jobs must be an integer >= 1, got {jobs!r}")
    from .common import check_overwrite

    check_overwrite(out, quick)
    if setting not in SETTINGS:
        raise GanEvalError(f"unknown setting {setting!r}; known: {', '.join(SETTINGS)}")
    if setting == "paper" and table not in PAPER_SETTING_TABLES:
        raise GanEvalError(f"the paper setting is implemented for {', '.join(PAPER_SETTING_TABLES)} only, not {table}; "
                           "docs/reproduce-protocols.md lists each table's settings against its paper's")
    if setting == "paper" and quick:
        raise GanEvalError("--quick and --setting paper exclude each other")
    if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 1):
        raise GanEvalError(f"steps must be an integer >= 1, got {steps!r}")
    if time_limit is not None and not (time_limit > 0):
        raise GanEvalError(f"time_limit must be a positive number of minutes, got {time_limit!r}")
    extra = {}
    if setting != "default" or steps is not None or time_limit is not None:
        if table not in PAPER_SETTING_TABLES:
            raise GanEvalError(f"--setting, --steps and --time-limit (Python: setting, steps, time_limit) apply to "
                               f"{' and '.join(PAPER_SETTING_TABLES)} only, not {table}")
        import time as _time

        extra = {"setting": setting, "steps": steps,
                 "deadline": None if time_limit is None else _time.time() + 60 * time_limit}
    import torch

    module = importlib.import_module(TABLES[table])
    temporary = work_dir is None
    work = Path(tempfile.mkdtemp(prefix=f"gan-eval-{table}-")) if temporary else Path(work_dir)
    threads = torch.get_num_threads()
    if quick:  # tiny nets: extra threads only add synchronisation, badly so on a busy machine
        torch.set_num_threads(1)
    try:
        work.mkdir(parents=True, exist_ok=True)
        return module.run(out, work, quick=quick, seeds=seeds, device=device, data_dir=data_dir, quiet=quiet,
                          command=command, jobs=jobs, **extra)
    finally:
        torch.set_num_threads(threads)
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


__all__ = ["TABLES", "reproduce"]
