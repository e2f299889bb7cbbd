"""`python -m gan_eval_models.quality_check ring --evaluate-only`: scores an existing run from its
log and checkpoint, and refuses a folder with no run in one plain line (no traceback)."""

import json

import pytest

from gan_eval_models import quality_check
from gan_eval_models.train import TrainConfig, read_log, train


def test_evaluate_only_reads_the_run_log(tmp_path, capsys):
    out = tmp_path / "run"
    train(TrainConfig("gan2014", "ring", steps=60, out=str(out), seed=0, checkpoint_every=30, eval_every=30,
                      log_every=20, quiet=True), overwrite=True)
    with pytest.raises(SystemExit) as e:
        quality_check.main(["ring", "--evaluate-only", "--out", str(out), "--quiet"])
    result = json.loads(capsys.readouterr().out)
    last = [r for r in read_log(out) if "d_loss" in r][-1]
    assert result["steps"] == last["step"] == 60
    assert result["train_summary_final"] == {"d_loss": last["d_loss"], "g_loss": last["g_loss"]}
    assert 0 <= result["modes_captured"] <= result["n_modes"] == 8
    assert e.value.code == (0 if result["passed"] else 1)


def test_evaluate_only_without_a_run_is_one_plain_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        quality_check.main(["ring", "--evaluate-only", "--out", str(tmp_path / "nothing")])
    assert "no log.jsonl in" in str(e.value.code) and "--evaluate-only" in str(e.value.code)
    assert capsys.readouterr().out == ""
