"""torch.distributed: `torchrun --nproc-per-node 2 -m gan_eval ...` (gloo, CPU) against one process.

Reference: the same command's computation in a single process (``gan_eval.score`` in-process,
one CPU thread like each torchrun worker, so the network's float32 arithmetic is the same).
Every image goes through the network in the same batch in both runs, so KID and PRDC must be
identical and FID equal up to the order of the float64 sums (1e-10 relative).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

from gan_eval import distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(free_port())] + list(args)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_two_processes_give_the_one_process_scores(random_weights, fixtures_dir):
    real, fake = str(fixtures_dir / "real"), str(fixtures_dir / "fake")
    r = torchrun(["-m", "gan_eval", "score", real, fake, "--metrics", "fid,kid,prdc", "--weights", str(random_weights),
                  "--batch-size", "10", "--no-cache", "--json", "-q"])
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, r.stdout  # rank 0 prints, rank 1 prints nothing
    two = json.loads(lines[0])

    from gan_eval import score

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one = score(real, fake, metrics="fid,kid,prdc", weights=random_weights, batch_size=10, num_workers=0,
                        progress=False, cache=False, quiet=True)
    finally:
        torch.set_num_threads(threads)
    assert two["n_real"] == one["n_real"] == 20 and two["n_fake"] == one["n_fake"] == 20
    assert two["fid"] == pytest.approx(one["fid"], rel=1e-10)
    assert two["kid"]["mean"] == pytest.approx(one["kid"]["mean"], rel=1e-12, abs=1e-12)
    assert two["kid"]["std"] == pytest.approx(one["kid"]["std"], rel=1e-12, abs=1e-12)
    for key in ("precision", "recall", "density", "coverage"):
        assert two[key] == one[key], key


def test_an_error_on_one_rank_stops_every_rank_and_is_printed_once(random_weights, fixtures_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in sorted((fixtures_dir / "real").glob("*.png")):
        (bad / p.name).write_bytes(p.read_bytes())
    (bad / "015.png").write_bytes(b"not a png")  # in rank 1's shard (images 10-19) with batches of 10
    r = torchrun(["-m", "gan_eval", "fid", str(bad), str(fixtures_dir / "fake"), "--weights", str(random_weights),
                  "--batch-size", "10", "--no-cache", "--json", "-q"])
    assert r.returncode != 0
    assert r.stdout.strip() == ""
    assert r.stderr.count("015.png: not a readable image file") == 1, r.stderr
    assert "error: " in r.stderr and "(on rank 1)" in r.stderr
    assert "exitcode  : 2" in r.stderr  # both ranks exited with the user-error code


SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    from gan_eval import distributed
    from gan_eval.errors import GanEvalError
    from gan_eval.stats import Statistics
    from gan_eval.streaming import _Side

    distributed.init()
    r = distributed.rank()
    out = {"world": distributed.world_size(), "shards": [distributed.shard_indices(n, bs).tolist()
                                                          for n, bs in ((20, 10), (25, 10), (5, 10), (7, 1))]}
    # uneven rows (rank 1 has none), then 1-d rows and ints
    x = torch.arange(6.0).reshape(3, 2) if r == 0 else None
    out["gathered"] = distributed.all_gather_rows(x).tolist()
    y = torch.full((r + 1, 3), r, dtype=torch.int64)
    out["gathered_int"] = distributed.all_gather_rows(y).tolist()
    # float64 moments: the sums of both ranks
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    mine = feats[:5] if r == 0 else feats[5:]
    total = distributed.all_reduce_statistics(Statistics(4).update(mine))
    ref = Statistics(4).update(feats)
    out["stats_count"] = total.count
    out["stats_err"] = float(max((total.sum - ref.sum).abs().max(), (total.sum_outer - ref.sum_outer).abs().max()))
    # a streaming side: moments all-reduced, kept rows gathered in rank order
    side = _Side(whole=("pool3",), stats=True, keep_pool3_below=2048)
    big = torch.randn(7, 2048, generator=gen)
    side.add({"pool3": big[:4] if r == 0 else big[4:]})
    synced = distributed.sync_side(side)
    out["side_count"] = synced.count
    out["side_local_count"] = side.count
    out["side_rows_equal"] = bool(torch.equal(synced.features("pool3"), big))
    out["side_mean_err"] = float(np.abs(synced.stats.mean - Statistics(2048).update(big).mean).max())
    out["all_true"] = [distributed.all_true(True), distributed.all_true(r == 0)]
    try:
        with distributed.collective_errors():
            if r == 1:
                raise GanEvalError("boom on one rank")
        out["error"] = None
    except GanEvalError as e:
        out["error"] = str(e)
    if r == 0:
        print(json.dumps(out))
    distributed.shutdown()
""")


def test_collectives_in_two_processes(tmp_path):
    script = tmp_path / "collectives.py"
    script.write_text(SCRIPT)
    r = torchrun([str(script)])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["world"] == 2
    # rank 0's shards: whole batches from the start (20/10 -> 0-9; 25/10 -> batches 0,1; 5/10 -> one batch)
    assert out["shards"] == [list(range(10)), list(range(20)), list(range(5)), list(range(4))]
    assert out["gathered"] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert out["gathered_int"] == [[0, 0, 0], [1, 1, 1], [1, 1, 1]]
    assert out["stats_count"] == 9 and out["stats_err"] < 1e-12
    assert out["side_count"] == 7 and out["side_local_count"] == 4
    assert out["side_rows_equal"] and out["side_mean_err"] < 1e-6
    assert out["all_true"] == [True, False]
    assert out["error"] == "boom on one rank (on rank 1)"


def test_single_process_is_a_no_op():
    assert not distributed.active() and distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.shard_indices(10, 3) is None
    assert distributed.all_true(True) and not distributed.all_true(False)
    x = np.ones((2, 3), dtype=np.float32)
    assert torch.equal(distributed.all_gather_rows(x), torch.ones(2, 3))
    with pytest.raises(ValueError, match="plain"):
        with distributed.collective_errors():
            raise ValueError("plain error passes through")


def test_launched_reads_world_size(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert distributed.launched()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not distributed.launched()
    monkeypatch.setenv("WORLD_SIZE", "x")
    assert not distributed.launched()


def test_world_size_without_a_launcher_is_a_clean_error(fixtures_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_ADDR", "MASTER_PORT")}
    env.update(WORLD_SIZE="2", RANK="0", PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "gan_eval", "fid", str(fixtures_dir / "real"), str(fixtures_dir / "fake")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "error: WORLD_SIZE=2 but the process group cannot be joined" in r.stderr and "torchrun" in r.stderr
