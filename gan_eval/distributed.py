"""Several processes, one result: feature extraction sharded over torch.distributed.

Launch any command under torchrun with the usual subcommands and options::

    torchrun --nproc-per-node K -m gan_eval fid A B
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:PORT -m gan_eval score A B

When torchrun's environment says there is more than one process (``WORLD_SIZE`` > 1), the CLI
joins the process group (gloo for CPU tensors, NCCL for CUDA tensors; rank r uses
``cuda:LOCAL_RANK``). Each feature pass then gives every rank a contiguous run of whole batches,
so every image goes through the network in the same batch as in a one-process run, and:

- the float64 pool3 moments (count, Σx, Σxxᵀ) are summed with all-reduce, so FID equals the
  one-process value to round-off (the sums are the same batch sums, added in another order);
- kept features (KID, precision/recall, IS, the exact small-set FID) are all-gathered in rank
  order, which is the one-process order: those metrics are identical.

Only rank 0 writes to stdout/stderr. An error on any rank is shared with every rank at the next
collective (``collective_errors``), so all ranks exit non-zero together and rank 0 prints the
message once.
"""

import atexit
import contextlib
import copy
import os
import sys

import numpy as np
import torch

from . import defaults
from .errors import GanEvalError

_STATE = {"silenced": False}


def launched():
    """True when started by torchrun (or any env:// launcher) with more than one process."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() else None


def active():
    """True when a process group with more than one process is initialised."""
    dist = _dist()
    return bool(dist and dist.is_initialized() and dist.get_world_size() > 1)


def rank():
    return _dist().get_rank() if active() else 0


def world_size():
    return _dist().get_world_size() if active() else 1


def is_main():
    return rank() == 0


def init(timeout_s=1800):
    """Join the default process group from torchrun's environment variables (idempotent).

    CPU tensors go through gloo; with CUDA present, CUDA tensors go through NCCL and this
    process uses ``cuda:LOCAL_RANK``.
    """
    import datetime

    dist = _dist()
    if dist is None:
        raise GanEvalError("this PyTorch build has no torch.distributed; run without torchrun")
    if dist.is_initialized():
        return
    backend = "gloo"
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local % torch.cuda.device_count())
        backend = "cpu:gloo,cuda:nccl"
    try:
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    except (ValueError, RuntimeError) as e:
        raise GanEvalError(f"WORLD_SIZE={os.environ.get('WORLD_SIZE')} but the process group cannot be joined ({e}); "
                           "launch with torchrun, or unset WORLD_SIZE") from None


def setup():
    """For the CLI: join the group when launched with several processes and silence ranks > 0.

    Ranks > 0 get stdout and stderr (file descriptors 1 and 2, so C++ messages too) pointed to
    /dev/null; set ``GAN_EVAL_DEBUG=1`` to keep them. Returns True when running distributed.
    """
    if not launched():
        return False
    init()
    atexit.register(shutdown)
    if rank() != 0 and not os.environ.get("GAN_EVAL_DEBUG") and not _STATE["silenced"]:
        sys.stdout.flush()
        sys.stderr.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        _STATE["silenced"] = True
    return True


def shutdown():
    dist = _dist()
    if dist is not None and dist.is_initialized():
        dist.destroy_process_group()


def shard_indices(n, batch_size=None):
    """This rank's image indices (None when not distributed): a contiguous run of whole batches.

    Batches are dealt out as evenly as possible in rank order, so concatenating the ranks' outputs
    gives the one-process order, and every image sits in the same batch as in a one-process run.
    """
    if not active():
        return None
    bs = int(batch_size) if batch_size else defaults.DEFAULT_BATCH_SIZE  # None: the CPU automatic size
    mine = np.array_split(np.arange(-(-n // bs)), world_size())[rank()]
    if mine.size == 0:
        return np.arange(0)
    return np.arange(mine[0] * bs, min((mine[-1] + 1) * bs, n))


@contextlib.contextmanager
def collective_errors():
    """Run a block on every rank; if it raised on any rank, raise on every rank.

    The rank that failed re-raises its own exception; the others raise a GanEvalError (or, for a
    failure that was not a GanEvalError, a RuntimeError) with the first failing rank's message,
    so every process exits non-zero and rank 0 can print the message. A no-op when not
    distributed.
    """
    if not active():
        yield
        return
    error = None
    try:
        yield
    except Exception as e:  # shared below, then re-raised
        error = e
    mine = None if error is None else (isinstance(error, GanEvalError), str(error) or type(error).__name__)
    everyone = [None] * world_size()
    _dist().all_gather_object(everyone, mine)
    if error is not None:
        raise error
    failed = [(r, m) for r, m in enumerate(everyone) if m is not None]
    if failed:
        r, (user_error, message) = failed[0]
        raise (GanEvalError if user_error else RuntimeError)(f"{message} (on rank {r})")


def all_true(flag):
    """Logical AND of `flag` over the ranks (the flag itself when not distributed)."""
    if not active():
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    _dist().all_reduce(t, op=_dist().ReduceOp.MIN)
    return bool(t.item())


def all_reduce_statistics(stats):
    """A new Statistics holding the sums of `stats` over all ranks (float64 count, Σx, Σxxᵀ)."""
    from .stats import Statistics

    out = Statistics(stats.dims, device=stats.sum.device)
    out.count, out.sum, out.sum_outer = stats.count, stats.sum.clone(), stats.sum_outer.clone()
    if not active():
        return out
    count = torch.tensor([stats.count], dtype=torch.int64, device=out.sum.device)
    for t in (count, out.sum, out.sum_outer):
        _dist().all_reduce(t)
    out.count = int(count.item())
    return out


def all_gather_rows(x):
    """Concatenate every rank's rows of a 2-D array/tensor (None: no rows), in rank order.

    Ranks may hold different numbers of rows (or none): sizes are exchanged first and the rows
    padded to the largest for the collective. Returns a tensor on `x`'s device (CPU for None),
    or the input as a tensor when not distributed.
    """
    t = None if x is None else torch.as_tensor(x)
    if not active():
        return t
    meta = None if t is None or t.shape[0] == 0 else (tuple(t.shape[1:]), str(t.dtype).replace("torch.", ""))
    metas = [None] * world_size()
    _dist().all_gather_object(metas, (0 if t is None else int(t.shape[0]), meta))
    shapes = {m for _, m in metas if m is not None}
    if len(shapes) > 1:
        raise GanEvalError(f"ranks hold features of different shapes or types: {sorted(shapes)}")
    if not shapes:
        return t if t is not None else torch.zeros((0, 0))
    tail, dtype = shapes.pop()
    dtype = getattr(torch, dtype)
    device = t.device if t is not None else torch.device("cpu")
    counts = [n for n, _ in metas]
    padded = torch.zeros((max(counts),) + tail, dtype=dtype, device=device)
    if t is not None and t.shape[0]:
        padded[:t.shape[0]] = t.to(dtype)
    parts = [torch.empty_like(padded) for _ in counts]
    _dist().all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, counts)])


def merge_pass(stats, features, keep, keep_pool3_below):
    """Combine one feature pass's per-rank results: (all-reduced stats, gathered features).

    `features` maps output names to this rank's rows. Outputs in `keep` are gathered; pool3 rows
    kept for the small-set FID are gathered when the total count is below `keep_pool3_below`
    (then every rank kept all of its rows), and dropped otherwise.
    """
    total = all_reduce_statistics(stats)
    names = list(dict.fromkeys(keep))
    small = keep_pool3_below is not None and "pool3" not in names and total.count < keep_pool3_below
    if small:
        names.append("pool3")
    merged = {}
    for name in names:
        rows = all_gather_rows(features.get(name))
        if rows is not None and rows.shape[0]:
            merged[name] = rows.cpu().numpy()
    return total, merged


def sync_side(side):
    """A copy of a streaming metric's side (``gan_eval.streaming._Side``) combined over all ranks.

    Counts and float64 moments are all-reduced, kept features all-gathered in rank order; the
    pool3 rows kept for the small-set FID are gathered while the total stays below the side's
    threshold. The local side is left as it is.
    """
    out = copy.copy(side)
    count = torch.tensor([side.count], dtype=torch.int64)
    if active():
        _dist().all_reduce(count)
    out.count = int(count.item())
    if side.stats is not None:
        out.stats = all_reduce_statistics(side.stats)
    out.parts = {}
    for name, rows in side.parts.items():
        gathered = all_gather_rows(torch.cat(rows) if rows else None)
        out.parts[name] = [gathered.to(side.device)] if gathered is not None and gathered.shape[0] else []
    if side.keep_pool3_below is not None:
        if out.count < side.keep_pool3_below:
            gathered = all_gather_rows(torch.cat(side.small) if side.small else None)
            out.small = [gathered.to(side.device)] if gathered is not None and gathered.shape[0] else []
        else:
            out.small = None
    return out
