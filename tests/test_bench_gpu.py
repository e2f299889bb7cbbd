"""benchmarks.gpu: skips cleanly without CUDA, and its code runs end to end (on the CPU here, tiny)."""

import torch

from benchmarks import gpu, harness


def test_skips_without_cuda(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(harness, "RESULTS", tmp_path / "RESULTS.md")
    assert gpu.main([]) == 0
    assert "skipped, no CUDA device" in capsys.readouterr().out
    assert not (tmp_path / "RESULTS.md").exists()


def test_same_code_runs_on_cpu(monkeypatch, tmp_path, capsys):
    """Every row of the GPU section produced with device=cpu on 4 images: the extractor at two
    precisions, the streaming update and the three peers, features compared with the CPU path."""
    monkeypatch.setattr(harness, "RESULTS", tmp_path / "RESULTS.md")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main(["--device", "cpu", "--n", "4", "--ref-n", "2", "--batch-sizes", "2",
                     "--precisions", "fp32,bf16x3"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    fp32 = next(r for r in rows if "| fp32 | 2 |" in r and "extract_features" in r)
    assert fp32.split("|")[5].strip() == "0.0e+00"  # same code, same device, same numbers
    split = next(r for r in rows if "| bf16x3 | 2 |" in r)
    assert float(split.split("|")[5]) <= 1e-4
    assert any("streaming FID.update" in r for r in rows)
    for peer in ("pytorch-fid", "torch-fidelity", "torchmetrics"):
        row = next(r for r in rows if r.startswith(f"| {peer} |"))
        assert "failed" not in row, row
    assert (tmp_path / "RESULTS.md").read_text().count(gpu.HEADING) == 1
