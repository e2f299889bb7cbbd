"""Streaming metrics equal the one-shot path on the same images.

FID runs the random-weight network (its pool3 output does not depend on the batching); the other
metrics and the input conversions use the cheap stand-in network of `_score_data`, against the
one-shot functions on the features `extract_features` gives for the same folders.
"""

import warnings

import numpy as np
import pytest
import torch

from _score_data import copy_images, images_of, install_fake_net, use_warm_cache, warm
from gan_eval import GanEvalError
from gan_eval.streaming import FID, KID, DensityCoverage, InceptionScore, PrecisionRecall


@pytest.fixture(scope="session")
def warm_state(tmp_path_factory, fixtures_dir, random_weights):
    return warm(tmp_path_factory, fixtures_dir, random_weights)


@pytest.fixture(autouse=True)
def _no_small_sample_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="FID from")
        yield


@pytest.fixture
def folders(tmp_path, fixtures_dir):
    return copy_images(fixtures_dir / "real", tmp_path / "real"), copy_images(fixtures_dir / "fake", tmp_path / "fake")


def test_fid_streaming_equals_one_shot_with_the_network(warm_state, tmp_path, monkeypatch, random_weights):
    """Real side from a folder reference (cached pass), fake side fed as uint8 NCHW then float NHWC."""
    from gan_eval import fid
    from gan_eval.metrics.fid import fid_from_moments
    from gan_eval.stats import Statistics

    use_warm_cache(warm_state, tmp_path, monkeypatch)
    expected = warm_state["result"]["fid"]
    assert fid(warm_state["real"], warm_state["fake"], weights=random_weights, progress=False, quiet=True)["fid"] \
        == pytest.approx(expected, rel=1e-12)
    fake = images_of(warm_state["fake"])
    m = FID(reference=warm_state["real"], weights=random_weights, device="cpu", quiet=True)
    m.update(torch.from_numpy(fake[:3]).permute(0, 3, 1, 2), real=False)
    m.update(torch.from_numpy(fake[3:]).float() / 255.0, real=False)
    assert m.counts == {"real": 6, "fake": 6}
    assert m.compute() == pytest.approx(expected, rel=1e-10)

    m.reset()
    assert m.counts == {"real": 6, "fake": 0}  # the reference stays
    with pytest.raises(GanEvalError, match="no generated images"):
        m.compute()
    m.update(fake[:2], real=False)
    real_stats, real_pool3 = warm_state["stats"]["real"], warm_state["features"]["real"]["pool3"]
    f2 = warm_state["features"]["fake"]["pool3"][:2]
    s2 = Statistics.from_features(f2)
    one_shot = fid_from_moments(real_stats.mean, real_stats.cov, 6, real_pool3, s2.mean, s2.cov, 2, f2, warn=False)
    assert m.compute() == pytest.approx(one_shot, rel=1e-10)


def test_fid_real_side_by_update_and_input_layouts(folders, monkeypatch, random_weights):
    from gan_eval import fid

    install_fake_net(monkeypatch)
    real, fake = folders
    expected = fid(real, fake, weights=random_weights, progress=False, quiet=True, cache=False)["fid"]
    R, F = images_of(real), images_of(fake)
    m = FID(weights=random_weights, device="cpu", quiet=True)
    for i in range(0, 6, 4):
        m.update(torch.from_numpy(R[i:i + 4]), real=True)  # uint8 NHWC tensor
        m.update(F[i:i + 4].transpose(0, 3, 1, 2).astype(np.float64) / 255.0, real=False)  # float64 NCHW numpy
    assert m.compute() == pytest.approx(expected, rel=1e-10)
    assert m.compute() == m.compute()  # compute() leaves the accumulators alone
    m.reset()
    assert m.counts == {"real": 0, "fake": 0}  # no reference: both sides cleared

    half = torch.from_numpy(F).to(torch.bfloat16) / 255  # what autocast generators return
    a = FID(weights=random_weights, quiet=True).update(R, real=True).update(half, real=False).compute()
    b = FID(weights=random_weights, quiet=True).update(R, real=True).update(half.float(), real=False).compute()
    assert a == b

    gray = FID(weights=random_weights, device="cpu", quiet=True)
    gray.update(R[:, :, :, 0], real=True).update(np.repeat(R[:, :, :, :1], 3, axis=3), real=False)
    assert gray.compute() == pytest.approx(0.0, abs=1e-6)  # N x H x W gray == the same gray as RGB


def test_kid_is_pr_dc_streaming_equal_their_functions(folders, monkeypatch, random_weights):
    from gan_eval.features.extract import extract_features
    from gan_eval.metrics.inception_score import inception_score
    from gan_eval.metrics.kid import kernel_inception_distance
    from gan_eval.metrics.prdc import density_coverage, precision_recall

    install_fake_net(monkeypatch)
    real, fake = folders
    kw = dict(weights=random_weights, progress=False, quiet=True, outputs=["pool3", "logits_unbiased"])
    fr, ff = extract_features(real, **kw), extract_features(fake, **kw)
    R, F = images_of(real), images_of(fake)
    metrics = [KID(subsets=5, subset_size=4, seed=3, weights=random_weights, quiet=True),
               PrecisionRecall(weights=random_weights, quiet=True),
               DensityCoverage(weights=random_weights, quiet=True)]
    isc = InceptionScore(splits=2, seed=1, weights=random_weights, quiet=True)
    for i, j in ((0, 2), (2, 5), (5, 6)):
        for m in metrics:
            m.update(R[i:j], real=True)
            m.update(torch.from_numpy(F[i:j]).float() / 255.0, real=False)
        isc.update(F[i:j])
    kid = kernel_inception_distance(fr["pool3"], ff["pool3"], subsets=5, subset_size=4, seed=3)
    assert metrics[0].compute() == {"mean": kid["mean"], "std": kid["std"], "subset_size": 4}
    assert metrics[1].compute() == precision_recall(fr["pool3"], ff["pool3"], k=3)
    assert metrics[2].compute() == density_coverage(fr["pool3"], ff["pool3"], k=5)
    ref = inception_score(ff["logits_unbiased"], splits=2, seed=1)
    assert isc.compute() == {"mean": ref["mean"], "std": ref["std"]}


def test_references_from_statistics_and_cache_entries(folders, monkeypatch, random_weights, tmp_path):
    from gan_eval import fid

    install_fake_net(monkeypatch)
    real, fake = folders
    expected = fid(real, fake, weights=random_weights, progress=False, quiet=True)["fid"]  # fills the cache
    F = images_of(fake)

    by_key = FID(reference="cache:" + next(iter_keys(real)), weights=random_weights, quiet=True)
    assert by_key.update(F, real=False).compute() == pytest.approx(expected, rel=1e-10)
    kid = KID(reference=f"cache:{real.resolve()}", subsets=2, subset_size=3, weights=random_weights, quiet=True)
    assert kid.update(F, real=False).counts == {"real": 6, "fake": 6}

    from gan_eval import cache

    st = cache.find(str(real.resolve())).stats
    np.savez(tmp_path / "real.npz", mu=st.mean, sigma=st.cov)
    by_stats = FID(reference=tmp_path / "real.npz", weights=random_weights, quiet=True).update(F, real=False)
    assert by_stats.compute() == pytest.approx(
        fid(tmp_path / "real.npz", fake, weights=random_weights, progress=False, quiet=True)["fid"], rel=1e-10)

    with pytest.raises(GanEvalError, match="statistics file .* serves FID only"):
        KID(reference=tmp_path / "real.npz", weights=random_weights, quiet=True)
    with pytest.raises(GanEvalError, match="no readable feature-cache entry"):
        FID(reference="cache:ffffffffffff", weights=random_weights, quiet=True)
    with pytest.raises(GanEvalError, match="update\\(\\) takes generated images only"):
        by_key.update(F, real=True)


def iter_keys(folder):
    from gan_eval import cache

    for e in cache.entries():
        if e["meta"] and e["meta"]["location"] == str(folder.resolve()):
            yield e["key"][:12]


def test_bad_inputs(monkeypatch, random_weights, torchscript_weights):
    install_fake_net(monkeypatch)
    m = FID(weights=random_weights, quiet=True)
    with pytest.raises(GanEvalError, match=r"float images must lie in \[0, 1\]"):
        m.update(torch.full((2, 3, 8, 8), -0.5), real=False)
    with pytest.raises(GanEvalError, match="NaN"):
        m.update(torch.full((2, 3, 8, 8), float("nan")), real=False)
    with pytest.raises(GanEvalError, match="expected images shaped"):
        m.update(torch.zeros(2, 8), real=False)
    with pytest.raises(GanEvalError, match="real must be True or False"):
        m.update(torch.zeros(2, 3, 8, 8), real="yes")
    with pytest.raises(GanEvalError, match="no real images"):
        m.update(torch.zeros(2, 3, 8, 8), real=False).compute()
    with pytest.raises(GanEvalError, match="features only"):
        InceptionScore(weights=torchscript_weights, quiet=True)
    with pytest.raises(GanEvalError, match="no real side"):
        InceptionScore(weights=random_weights, quiet=True).update(torch.zeros(2, 3, 8, 8), real=True)


def test_sync_is_a_no_op_without_torch_distributed(monkeypatch, random_weights):
    import torch.distributed as dist

    assert not (dist.is_available() and dist.is_initialized())
    m = FID(weights=random_weights, quiet=True)
    assert m._sync() is m._sides


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_match_cpu(folders, monkeypatch, random_weights):
    real, fake = folders
    R, F = images_of(real), images_of(fake)
    values = []
    for device in ("cpu", "cuda"):
        m = FID(weights=random_weights, device=device, quiet=True)
        m.update(torch.from_numpy(R).to(device), real=True)
        m.update((torch.from_numpy(F).float() / 255).to(device), real=False)
        values.append(m.compute())
    assert values[1] == pytest.approx(values[0], rel=1e-3)


def test_reference_errors(folders, monkeypatch, random_weights):
    from gan_eval import cache
    from gan_eval.evaluate import cached_pass
    from gan_eval.features.extract import load_network
    from gan_eval.inputs import open_input

    install_fake_net(monkeypatch)
    monkeypatch.setattr(cache, "STATS_MIN_COUNT", 4)  # FID-only entries now hold moments, no features
    real, fake = folders
    loaded = load_network(random_weights, quiet=True)
    for folder in folders:
        cached_pass(open_input(folder), loaded, "tensorflow", 50, "cpu", 0, False)
    key = next(iter_keys(real))
    with pytest.raises(GanEvalError, match="2 cache entries match ''"):
        FID(reference="cache:", weights=random_weights, quiet=True)
    with pytest.raises(GanEvalError, match="other settings \\(resize 'tensorflow' != 'clean'\\)"):
        FID(reference=f"cache:{key}", resize="clean", weights=random_weights, quiet=True)
    with pytest.raises(GanEvalError, match="lacks the pool3 features KID needs"):
        KID(reference=f"cache:{key}", weights=random_weights, quiet=True)
    m = FID(reference=f"cache:{key}", weights=random_weights, quiet=True)
    with pytest.raises(GanEvalError, match="FID needs at least 2 generated images, got 1"):
        m.update(images_of(fake)[:1], real=False).compute()
