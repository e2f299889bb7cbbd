"""`gan-eval reproduce cyclegan|stackgan --quick` through the CLI: TABLE.md, TABLE.json with only
finite numbers, the figure, and the rows each table promises. (Quick numbers mean nothing.)"""

import json
import math

import pytest
from _cli import run_cli as run

ROWS = {
    "cyclegan": {("a2b", "identity mapping"), ("a2b", "CycleGAN"), ("a2b", "real target (held-out)"),
                 ("b2a", "identity mapping"), ("b2a", "CycleGAN"), ("b2a", "real target (held-out)")},
    "stackgan": {"real test digits, 16 px", "Stage-I, 16 px", "real test digits, 32 px", "Stage-I upsampled to 32 px",
                 "Stage-I+II, 32 px"},
}


def _reject(constant):
    raise AssertionError(f"non-finite number {constant} in TABLE.json")


@pytest.mark.parametrize("table", ["cyclegan", "stackgan"])
def test_quick_reproduction(table, tmp_path, mnist_dir, capsys):
    out = tmp_path / table
    code, stdout, err = run(["reproduce", table, "--quick", "--out", out, "--data-dir", mnist_dir, "--quiet"], capsys)
    assert code == 0, err
    result = json.loads((out / "TABLE.json").read_text(), parse_constant=_reject)
    assert result["quick"] and result["table"] == table
    got = {(r["direction"], r["method"]) if table == "cyclegan" else r["method"] for r in result["ours"]}
    assert got == ROWS[table]
    for r in result["ours"]:
        assert all(math.isfinite(v) for k, v in r.items() if k.endswith("_mean"))
    assert "Quick mode" in (out / "TABLE.md").read_text()
    assert all((out / p).stat().st_size > 1000 for p in result["plots"])
    if table == "cyclegan":
        real = [r for r in result["ours"] if r["method"] == "real target (held-out)"]
        assert all(r["content_accuracy_mean"] > 0.9 for r in real)  # the classifier reads real targets
        assert all("cycle_l1_mean" in r for r in result["ours"] if r["method"] == "CycleGAN")
