"""The CPU extractor's malloc settings (gan_eval/features/heap.py) and its choice of workers.

Page faults are counted by the kernel (getrusage), in a fresh interpreter per case, so that
neither the test process's heap nor its malloc settings are involved.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from gan_eval.features import extract, heap

# Run the folded network (random weights) on 8 images seven times, as the extractor does on each
# chunk, and print the page faults of each call.
_PROBE = """
import contextlib, json, resource, sys, torch
from gan_eval.features import fused, heap
from gan_eval.features.inception import FIDInceptionV3
torch.set_num_threads(1)
net = fused.fuse(FIDInceptionV3(with_logits=False).eval()).to(memory_format=torch.channels_last)
x = torch.zeros(8, 3, 299, 299).contiguous(memory_format=torch.channels_last)
faults = []
with heap.kept() if sys.argv[1] == "kept" else contextlib.nullcontext(), torch.inference_mode():
    for _ in range(7):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        net(x)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


def _faults(mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GAN_EVAL_MALLOPT"}
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, env=env,
                         check=True, timeout=300)
    return json.loads(out.stdout)


@pytest.mark.skipif(heap.glibc() is None, reason="malloc here is not glibc's; heap.kept() does nothing by design")
def test_kept_heap_reuses_pages_instead_of_faulting_them_in_again():
    # Measured here: 10,805 faults per call in the steady state with glibc's defaults (the
    # 44 MB output of Conv2d_2b, mapped afresh each call); with heap.kept(), 0 in most calls and
    # now and then ~1,000 (the heap still growing for something else).
    plain, kept = _faults("plain"), _faults("kept")
    assert min(plain[-4:]) > 5000, plain
    assert sum(kept[-4:]) < 0.1 * sum(plain[-4:]), (kept, plain)


def test_malloc_is_left_alone_when_the_user_says_so(monkeypatch):
    for k in [k for k in os.environ if k.startswith("MALLOC_")] + ["GAN_EVAL_MALLOPT"]:
        monkeypatch.delenv(k, raising=False)
    assert heap.enabled() == (heap.glibc() is not None)
    monkeypatch.setenv("GAN_EVAL_MALLOPT", "0")
    assert not heap.enabled()
    monkeypatch.delenv("GAN_EVAL_MALLOPT")
    monkeypatch.setenv("MALLOC_ARENA_MAX_", "2")  # the user's own malloc tuning wins
    assert not heap.enabled()


def test_cpu_extraction_uses_workers_only_on_cores_the_network_leaves_idle(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(extract, "_cores", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert extract.auto_workers(1000, 50, cpu) == 0
    assert extract.auto_workers(1000, 50, cuda) == 1
    monkeypatch.setattr(extract, "_cores", lambda: 16)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert extract.auto_workers(1000, 50, cpu) == 4
    assert extract.auto_workers(1000, 50, cuda) == 4
    assert extract.auto_workers(60, 50, cuda) == 0  # two batches or fewer: a worker's start-up costs more
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun, 2 ranks on the node: 8 cores each
    monkeypatch.setattr(torch, "get_num_threads", lambda: 6)
    assert extract.auto_workers(1000, 50, cpu) == 2
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert extract.auto_workers(1000, 50, cpu) == 0
