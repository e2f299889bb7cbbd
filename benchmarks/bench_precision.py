"""How far `--precision bf16x3`, `tf32` and `bf16` move features and FID from fp32.

Run: ``python -m benchmarks.bench_precision [--n 250] [--device cpu|cuda] [--precisions fp32,bf16x3,bf16,tf32]
[--no-append]``.
No timing or bound is asserted; this measures what the README reports.

Two image pairs, each scored in fp32, bf16 and tf32 with the same weights:

* the committed fixtures, ``data/fixtures/real`` against ``data/fixtures/fake`` (20 each);
* ``--n`` MNIST test digits against as many training digits (``$GAN_EVAL_DATA``, default
  ``../shared/data/mnist``), skipped when the data is absent.

bf16x3 is the split-bf16 path (``gan_eval.features.fused.split_precision``): on a CPU without a
bf16 matrix engine it runs in its emulated float32 form, which gives the matrix engine's
numbers up to the order of summation. bf16 is ``torch.autocast`` on the chosen device, as `gan-eval --precision bf16` runs it. TF32
exists only on CUDA (on CPU PyTorch ignores the flag), so on CPU the tf32 row is an emulation:
every convolution's input and weights rounded to TF32's 10-bit mantissa (round to nearest even),
products accumulated in float32, which is what TF32 tensor cores do. On a GPU the row is the
real `--precision tf32`.
"""

import argparse

import numpy as np
import torch

from . import harness

HEADING = "## Reduced precision: bf16x3, tf32 and bf16 against fp32 (issues 7 and 20)"


def round_to_tf32(t):
    """float32 `t` rounded to TF32 (8-bit exponent, 10-bit mantissa), round to nearest even."""
    bits = t.contiguous().view(torch.int32)
    lsb = (bits >> 13) & 1
    rounded = (bits + 0xFFF + lsb) & ~0x1FFF
    finite = torch.isfinite(t)
    return torch.where(finite, rounded.view(torch.float32), t)


def tf32_emulated_network(model):
    """A copy of the plain FIDInceptionV3 `model` whose convolutions see TF32-rounded operands."""
    import copy

    net = copy.deepcopy(model).float().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.copy_(round_to_tf32(m.weight))
                m.register_forward_pre_hook(lambda _m, args: (round_to_tf32(args[0]),))
    return net


def emulated_features(images, loaded, resize, batch_size=25):
    """pool3 features of `images` (uint8 N x H x W x 3) through `tf32_emulated_network`,
    preprocessed as the extractor does."""
    from gan_eval.features import preprocess

    fn = preprocess.get(resize)
    net = tf32_emulated_network(loaded.model)
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.stack([fn(im) for im in images[i:i + batch_size]])
            out.append(net(x)["pool3"].numpy())
    return np.concatenate(out)


def mnist_pair(n):
    from gan_eval.idx import read_idx

    folder = harness.mnist_dir()
    try:
        test = read_idx(folder / "t10k-images-idx3-ubyte.gz")[:n]
        train = read_idx(folder / "train-images-idx3-ubyte.gz")[:n]
    except OSError:
        return None
    rgb = lambda a: np.repeat(a[..., None], 3, axis=-1)  # noqa: E731
    return rgb(test), rgb(train)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=250, help="MNIST digits per side (default 250)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--precisions", default="fp32,bf16x3,bf16,tf32",
                    help="comma-separated, fp32 first (default fp32,bf16x3,bf16,tf32)")
    ap.add_argument("--quick", action="store_true", help="fixtures only, print only")
    ap.add_argument("--mnist-only", action="store_true", help="skip the fixtures pair")
    ap.add_argument("--no-append", action="store_true", help="print only; do not touch RESULTS.md")
    a = ap.parse_args(argv)

    import tempfile
    import warnings

    from gan_eval import extract_features
    from gan_eval.devices import resolve_device
    from gan_eval.features.weights import load
    from gan_eval.inputs import load_images
    from gan_eval.metrics.fid import fid_from_features

    from gan_eval.devices import cpu_has_bf16_engine

    machine = harness.machine_line()
    dev = resolve_device(a.device)
    engine = dev.type == "cuda" or cpu_has_bf16_engine()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path, what = harness.pt_inception_weights(tmp)
        loaded = load(path, quiet=True)

    pairs = {} if a.mnist_only else {
        "fixtures, 20 vs 20 (32x32 PNGs)": (load_images(harness.ROOT / "data/fixtures/real"),
                                            load_images(harness.ROOT / "data/fixtures/fake"))}
    if not a.quick:
        m = mnist_pair(a.n)
        if m is not None:
            pairs[f"MNIST test[:{a.n}] vs train[:{a.n}]"] = m

    precisions = ["fp32"] + [p for p in a.precisions.split(",") if p and p != "fp32"]
    rows = []
    for label, (real, fake) in pairs.items():
        feats = {}
        for precision in precisions:
            if precision == "tf32" and dev.type != "cuda":
                name = "tf32 (emulated on CPU)"
                feats[name] = [emulated_features(s, loaded, "tensorflow") for s in (real, fake)]
            else:
                name = precision
                feats[name] = [extract_features(s, weights=loaded, device=dev, precision=precision, num_workers=0,
                                                progress=False, quiet=True) for s in (real, fake)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                print(f"{label}: {name} done, FID {fid_from_features(*feats[name]):.6f}", flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fewer samples than dimensions: known, and the same for every row
            fids = {k: fid_from_features(*v) for k, v in feats.items()}
        ref_fid, ref = fids["fp32"], feats["fp32"]
        for name, fid in fids.items():
            fdiff = max(harness.rel_diff(f, r) for f, r in zip(feats[name], ref))
            rows.append(f"| {label} | {name} | {fid:.6f} | {abs(fid - ref_fid):.2e} | "
                        f"{abs(fid - ref_fid) / ref_fid:.1e} | {fdiff:.1e} |" if name != "fp32" else
                        f"| {label} | fp32 | {fid:.6f} | | | |")

    lines = [
        f"{machine}; device {dev}.",
        "",
        f"Weights: {what}; tensorflow resize. FID from the pool3 features of each set "
        "(fewer images than dimensions, so the values are far from 50k-sample FIDs; what matters "
        "here is how they move).",
        "",
        "| images | precision | FID | abs. change vs fp32 | rel. change | max rel. diff of features |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
        "",
        "bf16x3: each convolution as x_hi·w_hi + x_hi·w_lo + x_lo·w_hi over bfloat16 halves of its float32 "
        f"operands, float32 accumulation ({'on a bf16 matrix engine' if engine else 'emulated in float32: this CPU has no bf16 matrix engine'}). "
        "On CPU, tf32 is emulated: convolution operands rounded to TF32 (10-bit mantissa), float32 "
        "accumulation. bf16 autocast runs the convolutions in bfloat16 (7 explicit mantissa bits, against float32's 23).",
    ]
    harness.report(HEADING, lines, append=not (a.no_append or a.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
