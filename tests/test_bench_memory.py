"""The memory benchmark's growth estimate (benchmarks/bench_memory.py): swings from prefetched
batches must not read as growth, a real per-image leak must."""

import numpy as np

from benchmarks.bench_memory import growth_per_1000


def test_swings_without_accumulation_give_no_growth():
    counts = np.arange(1, 81) * 50.0
    rss = 1500 + 300 * (np.arange(80) % 5 == 4)  # a 300 MiB rise every fifth batch, then freed
    rss[-6:-3] += 300  # a late swing, the kind a least-squares slope took for growth
    assert np.polyfit(counts[40:], rss[40:], 1)[0] * 1000 > 50  # what the old estimate saw
    assert abs(growth_per_1000(counts, rss)) < 1e-9


def test_a_leak_is_seen():
    counts = np.arange(1, 81) * 50.0
    rss = 1500 + 0.25 * counts + 300 * (np.arange(80) % 5 == 4)  # 0.25 MiB per image
    assert abs(growth_per_1000(counts, rss) - 250) < 1e-9


def test_too_few_batches():
    assert growth_per_1000(np.array([50.0, 100.0]), np.array([1.0, 2.0])) is None
