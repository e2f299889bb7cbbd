"""FID of gan-eval beside the reference implementations, with the real Inception weights.

Each peer runs its own pipeline (image loading, resizing, network, Fréchet distance) on the same
two folders; the network weights are the shared TorchScript file, converted to pytorch-fid's
state-dict layout for the peers that load that layout (its classifier, absent from the file, is
zero-filled: FID does not use it).

    python -m benchmarks.compare_reference [REAL FAKE] [--weights FILE]

Appends a table to benchmarks/RESULTS.md.
"""

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmarks.machine import describe_machine

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "weights" / "inception-2015-12-05-features.torchscript.pt"


def pt_inception_state_dict(loaded):
    sd = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    sd.setdefault("fc.weight", torch.zeros(1008, 2048))
    sd.setdefault("fc.bias", torch.zeros(1008))
    return sd


def ours(real, fake, weights, mode):
    from gan_eval import fid

    return fid(real, fake, weights=weights, resize=mode, progress=False, quiet=True)["fid"]


def pytorch_fid(real, fake, sd):
    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import calculate_fid_given_paths

    pfi.load_state_dict_from_url = lambda *a, **k: sd
    return calculate_fid_given_paths([str(real), str(fake)], batch_size=50, device="cpu", dims=2048, num_workers=0)


def torch_fidelity(real, fake, sd_path):
    import torch_fidelity as tf

    m = tf.calculate_metrics(input1=str(real), input2=str(fake), fid=True, verbose=False, cuda=False,
                             feature_extractor_weights_path=str(sd_path), save_cpu_ram=True)
    return m["frechet_inception_distance"]


def clean_fid(real, fake, weights):
    from cleanfid import fid as cf

    ts = torch.jit.load(str(weights), map_location="cpu").eval()

    def model(x):  # clean-fid hands over 299x299 floats in [0, 255]
        with torch.no_grad():
            return ts((x - 128) / 128)

    f1 = cf.get_folder_features(str(real), model=model, num_workers=0, batch_size=50, device=torch.device("cpu"),
                                mode="clean", verbose=False)
    f2 = cf.get_folder_features(str(fake), model=model, num_workers=0, batch_size=50, device=torch.device("cpu"),
                                mode="clean", verbose=False)
    return cf.frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("real", nargs="?", default=str(ROOT / "data/fixtures/real"))
    ap.add_argument("fake", nargs="?", default=str(ROOT / "data/fixtures/fake"))
    ap.add_argument("--weights", default=str(SHARED))
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from gan_eval.features.weights import load

    loaded = load(args.weights, quiet=True)
    sd = pt_inception_state_dict(loaded)
    tmp = Path(tempfile.mkdtemp()) / "pt_inception_from_torchscript.pth"
    torch.save(sd, tmp)
    rows = []
    for mode, peer_name, peer in (
        ("tensorflow", "torch-fidelity 0.4", lambda: torch_fidelity(args.real, args.fake, tmp)),
        ("pytorch-fid", "pytorch-fid 0.3", lambda: pytorch_fid(args.real, args.fake, sd)),
        ("clean", "clean-fid 0.1.35", lambda: clean_fid(args.real, args.fake, args.weights)),
    ):
        a = ours(args.real, args.fake, args.weights, mode)
        try:
            b = float(peer())
            diff = f"{a - b:+.2e}"
        except Exception as e:  # a peer's failure is reported, not fatal
            b, diff = float("nan"), f"peer failed: {type(e).__name__}: {e}"
        rows.append((mode, a, peer_name, b, diff))
        print(f"{mode:12s} ours {a:.6f}   {peer_name:18s} {b:.6f}   ours − peer {diff}", flush=True)
    table = ["| resize mode | gan-eval FID | reference | reference FID | gan-eval − reference |", "|---|---|---|---|---|"]
    table += [f"| `{m}` | {a:.6f} | {p} | {b:.6f} | {d} |" for m, a, p, b, d in rows]
    text = "\n".join(table)
    print(text)
    if not args.no_append:
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write(f"\n## FID beside the reference implementations (issue 2)\n\n{describe_machine()}\n\n"
                    f"Inputs: `{args.real}` vs `{args.fake}`; weights `{Path(args.weights).name}` "
                    f"(sha256 {loaded.sha256[:12]}...).\n\n{text}\n")


if __name__ == "__main__":
    main()
