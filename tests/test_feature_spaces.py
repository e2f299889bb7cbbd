"""DINOv2 and CLIP feature spaces against the reference libraries' own forward passes.

No real weights here: our extractor and the reference run the same seeded random weights. The
references are written as the reference code writes them:
- DINOv2: timm's network with the position embedding resampled the way facebookresearch/dinov2's
  ``interpolate_pos_encoding`` does (transcribed below), fed dgm-eval's DINOv2Encoder.transform
  (torchvision Compose on the PIL image);
- CLIP: open_clip's ``create_model_and_transforms`` model and its own preprocess transform,
  ``encode_image``.
"""

import hashlib
import json
import math
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval import GanEvalError  # noqa: E402
from gan_eval.features import spaces, vit  # noqa: E402
from gan_eval.features.extract import extract_features  # noqa: E402

from _cli import run_cli  # noqa: E402


def _images(n=2, seed=0, shape=(48, 72)):
    """Non-square uint8 RGB images, so the CLIP centre crop and the DINOv2 squashing both matter."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, shape[0] // 8, shape[1] // 8, 3)).astype(np.float64)
    big = np.kron(base, np.ones((1, 8, 8, 1)))  # smooth-ish blocks, then noise
    return np.clip(big + rng.normal(0, 20, big.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dinov2_b_weights(tmp_path_factory):
    return vit.save_random_weights("dinov2-vitb14", tmp_path_factory.mktemp("w") / "dinov2_vitb14_random.pth", seed=1)


@pytest.fixture(scope="module")
def clip_weights(tmp_path_factory):
    return vit.save_random_weights("clip-vitb32", tmp_path_factory.mktemp("w") / "clip_random.pth", seed=2)


def _hub_pos_embed(pos_embed, w, h, patch_size=14, offset=0.1):
    # facebookresearch/dinov2, dinov2/models/vision_transformer.py, interpolate_pos_encoding
    # (interpolate_offset=0.1, interpolate_antialias=False for the hub's dinov2_vit*14 models).
    n = pos_embed.shape[1] - 1
    pos_embed = pos_embed.float()
    class_pos_embed, patch_pos_embed = pos_embed[:, 0], pos_embed[:, 1:]
    dim = pos_embed.shape[-1]
    w0, h0 = w // patch_size, h // patch_size
    m = int(math.sqrt(n))
    sx, sy = float(w0 + offset) / m, float(h0 + offset) / m
    patch_pos_embed = torch.nn.functional.interpolate(
        patch_pos_embed.reshape(1, m, m, dim).permute(0, 3, 1, 2), mode="bicubic", antialias=False,
        scale_factor=(sx, sy))
    assert (w0, h0) == patch_pos_embed.shape[-2:]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)


def _dgm_eval_dinov2_transform(pil):
    # dgm-eval dgm_eval/models/dinov2.py, DINOv2Encoder.transform with clean_resize=False
    import torchvision.transforms as TF

    image = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor()])(pil)
    return TF.Normalize(np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))(image)


def test_dinov2_vitb14_forward_equals_reference(dinov2_b_weights, one_thread):
    import timm

    images = _images()
    ours = extract_features(images, weights=dinov2_b_weights, features="dinov2-vitb14", batch_size=2,
                            num_workers=0, progress=False)
    assert ours.shape == (2, 768) and ours.dtype == np.float32

    sd = torch.load(dinov2_b_weights, weights_only=True)
    sd.pop("mask_token")
    assert sd["pos_embed"].shape == (1, 1 + 37 * 37, 768)  # Meta's 518 x 518 grid
    sd["pos_embed"] = _hub_pos_embed(sd["pos_embed"], 224, 224)
    ref = timm.create_model("vit_base_patch14_dinov2", pretrained=False, img_size=224, num_classes=0).eval()
    ref.load_state_dict(sd, strict=True)
    x = torch.stack([_dgm_eval_dinov2_transform(Image.fromarray(im)) for im in images]).float()
    with torch.no_grad():
        expected = ref(x).numpy()
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)


def test_dinov2_position_embedding_is_the_hubs_not_timms():
    """timm's own loader resamples with antialiasing to an exact size: a different embedding, which
    is why we resample as the hub does."""
    from timm.layers import resample_abs_pos_embed

    pos = torch.randn(1, 1 + 37 * 37, 8, generator=torch.Generator().manual_seed(0))
    ours = vit.resample_position_embedding(pos, 16)
    np.testing.assert_array_equal(ours.numpy(), _hub_pos_embed(pos, 224, 224).numpy())
    timms = resample_abs_pos_embed(pos, new_size=(16, 16), old_size=(37, 37), num_prefix_tokens=1)
    assert (ours - timms).abs().max() > 1e-2


def test_dinov2_vitl14_architecture():
    net = vit.build("dinov2-vitl14").net
    sd = net.state_dict()
    assert sd["pos_embed"].shape == (1, 1 + 16 * 16, 1024)
    assert sd["patch_embed.proj.weight"].shape == (1024, 3, 14, 14)
    assert sum(1 for k in sd if k.endswith("attn.qkv.weight")) == 24
    assert sd["blocks.23.ls2.gamma"].shape == (1024,) and sd["norm.weight"].shape == (1024,)
    assert net.global_pool == "token" and isinstance(net.head, torch.nn.Identity)
    assert sum(v.numel() for v in sd.values()) == pytest.approx(304.1e6, rel=0.01)  # ViT-L/14: 304M


def test_clip_vitb32_forward_equals_open_clip(clip_weights, one_thread):
    import logging

    import open_clip

    images = _images(shape=(40, 64))
    ours = extract_features(images, weights=clip_weights, features="clip-vitb32", batch_size=2, num_workers=0,
                            progress=False)
    assert ours.shape == (2, 512)
    logging.getLogger().setLevel(logging.ERROR)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32-quickgelu", pretrained=None)
    sd = torch.load(clip_weights, weights_only=True)
    model.visual.load_state_dict({k[len("visual."):]: v for k, v in sd.items()}, strict=True)
    x = torch.stack([preprocess(Image.fromarray(im)) for im in images])
    with torch.no_grad():
        expected = model.eval().encode_image(x).numpy()
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)


def test_metric_names_are_honest():
    assert spaces.metric_name("fd") == "FID" and spaces.metric_name("kd") == "KID"
    assert spaces.metric_name("fd", "dinov2-vitl14") == "FD_DINOv2"
    assert spaces.metric_name("kd", "clip-vitb32") == "KD_CLIP"
    with pytest.raises(GanEvalError, match="unknown feature space"):
        spaces.get("resnet")


def _folders(tmp_path, n=4):
    for name, seed in (("a", 0), ("b", 1)):
        (tmp_path / name).mkdir()
        for i, im in enumerate(_images(n, seed, (32, 40))):
            Image.fromarray(im).save(tmp_path / name / f"{i}.png")
    return tmp_path / "a", tmp_path / "b"


def test_cli_fid_score_stats_in_clip_space(tmp_path, clip_weights, capsys, one_thread):
    a, b = _folders(tmp_path)
    code, out, err = run_cli(["fid", a, b, "--features", "clip-vitb32", "--weights", clip_weights, "--json",
                              "--quiet", "--ci", "0.9", "--bootstrap", "5"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert r["features"] == "clip-vitb32" and "fid" not in r and r["fd"] > 0 and r["resize"] == "clip-vitb32"
    assert r["fd_ci"]["low"] <= r["fd_ci"]["high"] and r["fd_ci"]["replicates"] == 5
    f = extract_features(a, weights=clip_weights, features="clip-vitb32", progress=False)
    g = extract_features(b, weights=clip_weights, features="clip-vitb32", progress=False)
    from gan_eval.metrics.fid import fid_from_features

    assert r["fd"] == pytest.approx(fid_from_features(f, g, warn=False), rel=1e-9)

    code, out, err = run_cli(["fid", a, b, "--features", "clip-vitb32", "--weights", clip_weights, "--quiet"], capsys)
    assert code == 0 and out.startswith("FD_CLIP: "), out + err  # served by the cache this time

    code, out, err = run_cli(["score", a, b, "--features", "clip-vitb32", "--weights", clip_weights, "--quiet",
                              "--kid-subset-size", "3", "--kid-subsets", "4", "--k-pr", "2", "--k-dc", "2"], capsys)
    assert code == 0, err
    assert "FD_CLIP:" in out and "KD_CLIP:" in out and "FID" not in out and "IS" not in out and "precision:" in out

    code, out, err = run_cli(["stats", a, "-o", tmp_path / "s.npz", "--features", "clip-vitb32", "--weights",
                              clip_weights, "--quiet"], capsys)
    assert code == 0, err
    with np.load(tmp_path / "s.npz") as z:  # the space is part of the file's provenance record
        assert json.loads(str(z["provenance"]))["features"] == "clip-vitb32" and z["mu"].shape == (512,)
        other = dict(z, provenance=np.array(json.dumps({**json.loads(str(z["provenance"])), "features": "inception"})))
    np.savez(tmp_path / "t.npz", **other)  # same dimension, recorded in another space: refused, naming both
    code, _, err = run_cli(["fid", tmp_path / "s.npz", tmp_path / "t.npz"], capsys)
    assert code == 2 and "clip-vitb32" in err and "inception" in err


def _offline(monkeypatch):
    def refuse(url, *a, **k):
        raise urllib.error.URLError("network unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_cli_refuses_mixed_settings_and_missing_weights(tmp_path, capsys, monkeypatch):
    a, b = _folders(tmp_path, n=2)
    code, _, err = run_cli(["fid", a, b, "--features", "clip-vitb32", "--resize", "clean"], capsys)
    assert code == 2 and "applies to Inception features" in err
    code, _, err = run_cli(["score", a, b, "--features", "clip-vitb32", "--metrics", "is"], capsys)
    assert code == 2 and "Inception Score" in err
    # DINOv2 offline: one line naming the URL, the SHA-256 a download must have, and where the file goes.
    _offline(monkeypatch)
    code, _, err = run_cli(["fid", a, b, "--features", "dinov2-vitl14"], capsys)
    assert code == 2 and err.count("\n") == 1 and "network unreachable" in err
    space = spaces.get("dinov2-vitl14")
    assert space.urls[0] in err and space.sha256 in err
    assert str(tmp_path / "cache" / "weights" / "dinov2_vitl14_pretrain.pth") in err
    assert "GAN_EVAL_DINOV2_VITL14_WEIGHTS" in err
    assert not any((tmp_path / "cache" / "weights").iterdir())  # no partial download left


def test_dinov2_download_is_verified(tmp_path, monkeypatch):
    """The download path of the DINOv2 spaces, served from a local file: a file whose SHA-256 is
    not the pinned one is refused and nothing is kept; one that matches is cached."""
    import dataclasses

    from gan_eval.errors import WeightsError

    served = tmp_path / "served.pth"
    served.write_bytes(b"not the DINOv2 weights")
    space = spaces.get("dinov2-vitb14")
    monkeypatch.setitem(spaces.SPACES, space.name, dataclasses.replace(space, urls=(served.as_uri(),)))
    with pytest.raises(WeightsError) as e:
        vit.resolve(space.name)
    assert space.sha256 in str(e.value) and hashlib.sha256(served.read_bytes()).hexdigest() in str(e.value)
    cache = tmp_path / "cache" / "weights"
    assert not any(cache.iterdir())
    digest = hashlib.sha256(served.read_bytes()).hexdigest()
    monkeypatch.setitem(spaces.SPACES, space.name, dataclasses.replace(space, urls=(served.as_uri(),), sha256=digest))
    path = vit.resolve(space.name)
    assert path == cache / "dinov2_vitb14_pretrain.pth" and path.read_bytes() == served.read_bytes()


def test_streaming_fid_in_clip_space_matches_one_shot(clip_weights, one_thread):
    from gan_eval.evaluate import fid
    from gan_eval.streaming import FID

    real, fake = _images(3, 5), _images(3, 6)
    m = FID(weights=clip_weights, features="clip-vitb32", quiet=True)
    m.update(real, real=True).update(fake[:2], real=False).update(fake[2:], real=False)
    one = fid(real, fake, weights=clip_weights, features="clip-vitb32", progress=False, quiet=True)
    assert m.compute() == pytest.approx(one["fd"], rel=1e-9)


def test_cli_fid_and_score_in_dinov2_space(tmp_path, dinov2_b_weights, capsys, one_thread):
    a, b = _folders(tmp_path, n=3)
    code, out, err = run_cli(["fid", a, b, "--features", "dinov2-vitb14", "--weights", dinov2_b_weights, "--json",
                              "--quiet"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert r["features"] == "dinov2-vitb14" and r["fd"] > 0 and "fid" not in r
    code, out, err = run_cli(["score", a, b, "--features", "dinov2-vitb14", "--weights", dinov2_b_weights, "--quiet",
                              "--metrics", "fid,kid", "--kid-subset-size", "2", "--kid-subsets", "3"], capsys)
    assert code == 0, err
    assert out.startswith("FD_DINOv2-B14:") and "KD_DINOv2-B14:" in out
    assert float(out.split()[1]) == pytest.approx(r["fd"], abs=1e-4)  # the cached features, same number


def test_vitl14_refuses_weights_of_another_architecture(tmp_path, dinov2_b_weights, capsys):
    a, b = _folders(tmp_path, n=2)
    code, _, err = run_cli(["fid", a, b, "--features", "dinov2-vitl14", "--weights", dinov2_b_weights], capsys)
    assert code == 2 and "not dinov2-vitl14 weights" in err and "wrong shape" in err


def test_torchrun_in_clip_space_gives_the_one_process_scores(tmp_path, clip_weights):
    """Two gloo processes (torchrun) against one, as tests/test_distributed.py does for Inception."""
    import warnings

    from test_distributed import torchrun

    from gan_eval import score

    a, b = _folders(tmp_path, n=6)
    args = dict(metrics="fid,kid,prdc", kid_subset_size=4, kid_subsets=3, k_pr=2, k_dc=2)
    r = torchrun(["-m", "gan_eval", "score", str(a), str(b), "--features", "clip-vitb32", "--weights",
                  str(clip_weights), "--metrics", "fid,kid,prdc", "--kid-subset-size", "4", "--kid-subsets", "3",
                  "--k-pr", "2", "--k-dc", "2", "--batch-size", "2", "--no-cache", "--json", "-q"])
    assert r.returncode == 0, r.stderr
    two = json.loads([line for line in r.stdout.splitlines() if line.strip()][0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one = score(a, b, weights=clip_weights, features="clip-vitb32", batch_size=2, num_workers=0,
                        progress=False, cache=False, quiet=True, **args)
    finally:
        torch.set_num_threads(threads)
    assert two["features"] == one["features"] == "clip-vitb32"
    assert two["fd"] == pytest.approx(one["fd"], rel=1e-10)
    assert two["kd"]["mean"] == pytest.approx(one["kd"]["mean"], rel=1e-9, abs=1e-12)
    for key in ("precision", "recall", "density", "coverage"):
        assert two[key] == one[key], key
