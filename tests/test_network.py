"""The Inception network against two independent references:
- the shared TorchScript file's own forward (the clean-fid / StyleGAN network), and
- pytorch-fid's FIDInceptionV3 with the same (random) weights in pt_inception layout.
"""

import warnings

import numpy as np
import pytest
import torch

from gan_eval import extract_features, fid_from_features
from gan_eval.errors import WeightsError
from gan_eval.features import weights as W
from gan_eval.features.inception import FIDInceptionV3


def rel_err(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def test_torchscript_weights_reproduce_the_files_own_forward(torchscript_weights):
    loaded = W.load(torchscript_weights)
    assert loaded.format == "torchscript" and loaded.reference and not loaded.has_logits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = torch.jit.load(str(torchscript_weights), map_location="cpu").eval()
    x = torch.rand(3, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        expected = reference(x)
        ours = loaded.model(x)["pool3"]
    assert ours.shape == (3, 2048)
    assert rel_err(ours, expected) <= 1e-5


def test_features_only_weights_refuse_logits(torchscript_weights, fixtures_dir):
    with pytest.raises(WeightsError, match="Inception Score"):
        extract_features(fixtures_dir / "real", weights=torchscript_weights, outputs="logits_unbiased", progress=False)


def _pytorch_fid_model(state_dict, monkeypatch):
    import pytorch_fid.inception as pfi

    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: state_dict)
    return pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], use_fid_inception=True).eval()


@pytest.fixture(scope="module")
def ours_pf(random_weights, fixtures_dir):
    """One pass of our network (pytorch-fid mode) over both fixture folders, all outputs."""
    return {s: extract_features(fixtures_dir / s, weights=random_weights, resize="pytorch-fid", batch_size=10,
                                outputs=["pool3", "logits", "logits_unbiased"], progress=False, num_workers=0)
            for s in ("real", "fake")}


def test_matches_pytorch_fid_features_and_fid(random_weights, fixtures_dir, ours_pf, monkeypatch):
    """Same random weights in both networks, `pytorch-fid` resize mode, the committed fixture folders."""
    from pytorch_fid.fid_score import calculate_frechet_distance, get_activations

    sd = torch.load(random_weights, weights_only=True)
    model = _pytorch_fid_model(sd, monkeypatch)
    files = {s: sorted(str(p) for p in (fixtures_dir / s).glob("*.png")) for s in ("real", "fake")}
    theirs = {s: get_activations(f, model, batch_size=10, dims=2048, device="cpu", num_workers=0) for s, f in files.items()}
    ours = {s: ours_pf[s]["pool3"] for s in files}
    for s in files:
        assert ours[s].shape == theirs[s].shape == (20, 2048)
        assert rel_err(ours[s], theirs[s]) <= 1e-4
    # pytorch-fid's own formula on a 16-d slice, where 20 samples give well-conditioned covariances: on
    # the full rank-19 2048-d covariances its scipy sqrtm is unstable (scipy 1.17 returns an imaginary
    # part of ~60 and pytorch-fid raises), so there it is not a reference.
    d = 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = calculate_frechet_distance(theirs["real"][:, :d].mean(0), np.cov(theirs["real"][:, :d], rowvar=False),
                                         theirs["fake"][:, :d].mean(0), np.cov(theirs["fake"][:, :d], rowvar=False))
        value = fid_from_features(ours["real"][:, :d], ours["fake"][:, :d])
    assert value > 0 and abs(value - ref) <= 1e-3 * max(1.0, abs(ref))
    # The full 2048-d FID against its closed form for n < d, computed here in float64 from pytorch-fid's
    # features: with centred A_i (n x d), Σ_i = A_iᵀA_i/(n-1) and tr √(Σ1Σ2) = ‖A1 A2ᵀ‖_* /(n-1).
    a1, a2 = (theirs[s].astype(np.float64) for s in ("real", "fake"))
    c1, c2 = a1 - a1.mean(0), a2 - a2.mean(0)
    n = len(a1)
    exact = (np.sum((a1.mean(0) - a2.mean(0)) ** 2) + (np.sum(c1 ** 2) + np.sum(c2 ** 2)) / (n - 1)
             - 2 * np.linalg.norm(c1 @ c2.T, "nuc") / (n - 1))
    full = fid_from_features(ours["real"], ours["fake"])
    assert full > 0 and abs(full - exact) <= 1e-3 * max(1.0, abs(exact))


def test_logits_with_and_without_bias(random_weights, ours_pf):
    out = ours_pf["real"]
    sd = torch.load(random_weights, weights_only=True)
    w, b = sd["fc.weight"].double().numpy(), sd["fc.bias"].double().numpy()
    np.testing.assert_allclose(out["logits_unbiased"], out["pool3"] @ w.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["logits"], out["pool3"] @ w.T + b, rtol=1e-4, atol=1e-4)
    assert out["logits"].shape == (20, 1008)


def test_workers_and_batch_size_do_not_change_features(random_weights, fixtures_dir, ours_pf):
    b = extract_features(fixtures_dir / "fake", weights=random_weights, resize="pytorch-fid", batch_size=7,
                         num_workers=2, progress=False)
    assert rel_err(b, ours_pf["fake"]["pool3"]) <= 1e-5


# --- weight files -------------------------------------------------------------------------

def test_foreign_and_truncated_weight_files(tmp_path, random_weights):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a weights file at all" * 100)
    with pytest.raises(WeightsError, match="truncated or corrupt|not a readable"):
        W.load(junk)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(random_weights.read_bytes()[: 5_000_000])
    with pytest.raises(WeightsError):
        W.load(truncated)
    other = tmp_path / "resnet_like.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 512)}, other)
    with pytest.raises(WeightsError, match="missing"):
        W.load(other)
    wrong_shape = tmp_path / "wrong_shape.pth"
    sd = torch.load(random_weights, weights_only=True)
    sd["Conv2d_1a_3x3.conv.weight"] = torch.zeros(32, 3, 5, 5)
    torch.save(sd, wrong_shape)
    with pytest.raises(WeightsError, match="wrong shape"):
        W.load(wrong_shape)


def test_unknown_but_valid_weights_warn(random_weights):
    W._LOADED.clear()
    with pytest.warns(UserWarning, match="not a known reference"):
        loaded = W.load(random_weights)
    assert not loaded.reference and loaded.sha256 == W.sha256_of(random_weights)


def test_size_of_reference_but_wrong_hash_is_refused(tmp_path):
    fake = tmp_path / W.FILENAME
    with open(fake, "wb") as f:
        f.truncate(W.SIZE)
    with pytest.raises(WeightsError, match="SHA-256"):
        W.load(fake)


def test_resolution_order(tmp_path, monkeypatch, random_weights):
    explicit = tmp_path / "explicit.pth"
    explicit.write_bytes(b"x")
    env = tmp_path / "env.pth"
    env.write_bytes(b"y")
    cached = W.default_path()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"z")
    monkeypatch.setenv(W.ENV_VAR, str(env))
    assert W.resolve(explicit) == explicit
    assert W.resolve() == env
    monkeypatch.delenv(W.ENV_VAR)
    assert W.resolve() == cached
    cached.unlink()
    with pytest.raises(WeightsError, match="--weights"):
        W.resolve(download=False)
    with pytest.raises(WeightsError, match="not found"):
        W.resolve(tmp_path / "missing.pth")


class _FakeResponse:
    def __init__(self, data):
        self.data, self.pos, self.headers = data, 0, {"Content-Length": str(len(data))}

    def read(self, n):
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_download_verifies_hash_and_moves_atomically(tmp_path, monkeypatch):
    import hashlib
    import urllib.request

    payload = b"weights" * 1000
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: _FakeResponse(payload))
    dest = tmp_path / "w" / "file.pth"
    good = hashlib.sha256(payload).hexdigest()
    assert W.download_weights(dest, urls=("https://example.invalid/a",), sha256=good) == dest
    assert dest.read_bytes() == payload
    dest.unlink()
    with pytest.raises(WeightsError, match="SHA-256"):
        W.download_weights(dest, urls=("https://example.invalid/a",), sha256="0" * 64)
    assert list(dest.parent.iterdir()) == []  # no partial file left behind


def test_offline_download_says_how_to_provide_weights(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(url, timeout=None):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(WeightsError) as e:
        W.resolve()
    msg = str(e.value)
    assert "could not download" in msg and "--weights" in msg and W.ENV_VAR in msg
    assert not any(W.default_path().parent.glob("*.part"))


def test_network_architecture_details():
    """The TF-graph specifics: eps 1e-3 everywhere, max pool in the last E block only."""
    m = FIDInceptionV3()
    assert {mod.eps for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)} == {0.001}
    assert m.Mixed_7c.max_pool and not m.Mixed_7b.max_pool
    assert sum(p.numel() for p in m.parameters()) > 23_000_000
