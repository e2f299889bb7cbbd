"""Every ```bash and ```python block of README.md and docs/*.md runs, so the documentation cannot rot.

Each block runs in a fresh temporary folder holding `real/` and `fake/` (copies of
data/fixtures), with GAN_EVAL_DATA at the MNIST files, GAN_EVAL_INCEPTION_WEIGHTS at the shared
TorchScript weights, and one GAN_EVAL_CACHE for the session (so the fixtures go through the
network once). `gan-eval` is this checkout's CLI. ```text (and any other) blocks are not run. A
block preceded by `<!-- docs-test: skip (REASON) -->` is reported as skipped with its reason; a
skip marker without a reason, or not directly above a fence, fails.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
RUN = ("bash", "python")
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!-- docs-test: skip \((?P<reason>[^()]*\S[^()]*)\) -->$")
BLOCK_TIMEOUT_S = 600  # a block should take well under a minute; this only stops a hang
LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)#\s]+)(?:#[^)]*)?\)")


def _blocks(page):
    """(line, language, code, skip reason or None) of each fenced block, and the bad skip markers."""
    lines = page.read_text().splitlines()
    blocks, bad, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("<!-- docs-test"):
            if not SKIP.match(line.strip()):
                bad.append(f"{page.name}:{i + 1}: skip marker without a reason: {line.strip()}")
            elif i + 1 >= len(lines) or not FENCE.match(lines[i + 1]):
                bad.append(f"{page.name}:{i + 1}: skip marker not directly above a code fence")
        m = FENCE.match(line)
        if m:
            end = i + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            skip = SKIP.match(lines[i - 1].strip()) if i else None
            blocks.append((i + 1, m.group(1), "\n".join(lines[i + 1:end]) + "\n", skip["reason"] if skip else None))
            i = end
        i += 1
    return blocks, bad


def _all_blocks():
    return [(page, *b) for page in PAGES for b in _blocks(page)[0]]


BLOCKS = [b for b in _all_blocks() if b[2] in RUN]


def test_skip_markers_have_reasons():
    bad = [msg for page in PAGES for msg in _blocks(page)[1]]
    assert not bad, "\n".join(bad)
    skipped = [f"{p.name}:{line} ({reason})" for p, line, lang, _, reason in BLOCKS if reason]
    print(f"{len(BLOCKS)} runnable blocks, {len(skipped)} skipped:\n" + "\n".join(skipped))
    assert len(skipped) < len(BLOCKS) / 2  # most of the documentation runs


def test_every_fence_is_labelled():
    unlabelled = [f"{p.name}:{line}" for p, line, lang, _, _ in _all_blocks() if not lang]
    assert not unlabelled, f"label these code fences (bash, python, or text when not to be run): {unlabelled}"


def test_relative_links_resolve():
    broken = [f"{page.relative_to(ROOT)}: {target}" for page in PAGES for target in LINK.findall(page.read_text())
              if not (page.parent / target).exists()]
    assert not broken, broken


def test_ci_installs_and_tests_as_the_readme_says():
    """.ci/run's install and test commands are the README's (up to pip's -q)."""
    readme = (ROOT / "README.md").read_text()
    shown = {line.split("#")[0].strip() for line in readme[readme.index("## The tests"):].splitlines()}
    ci = [line.strip().replace("install -q ", "install ") for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip().startswith(("python -m pip", "python -m pytest"))]
    assert len(ci) == 2, ci
    for command in ci:
        assert command in shown, f".ci/run runs {command!r}, which the README's tests section does not show"


@pytest.fixture(scope="module")
def doc_env(tmp_path_factory, mnist_dir, torchscript_weights):
    root = tmp_path_factory.mktemp("docs_env")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "gan-eval"  # this checkout's CLI, whatever `pip install -e` points at
    cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gan_eval "$@"\n')
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}",
        GAN_EVAL_DATA=str(mnist_dir),
        GAN_EVAL_INCEPTION_WEIGHTS=str(torchscript_weights),
        GAN_EVAL_CACHE=str(root / "cache"),
        MPLBACKEND="Agg",
        PYTHONWARNINGS="ignore",
    )
    return env


def _workdir(tmp_path):
    for side in ("real", "fake"):
        shutil.copytree(ROOT / "data" / "fixtures" / side, tmp_path / side, copy_function=shutil.copy2)
    return tmp_path


def _run(lang, code, cwd, env):
    cmd = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)


@pytest.mark.slow
@pytest.mark.parametrize("page,line,lang,code,reason", BLOCKS,
                         ids=[f"{b[0].name}:{b[1]}" for b in BLOCKS])
def test_block_runs(page, line, lang, code, reason, doc_env, tmp_path):
    if reason:
        pytest.skip(f"{page.name}:{line}: {reason}")
    r = _run(lang, code, _workdir(tmp_path), doc_env)
    assert r.returncode == 0, f"{page.name}:{line} ({lang}) exited {r.returncode}\n{code}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr[-4000:]}"


@pytest.mark.slow
def test_headline_fid_within_its_stated_tolerance(doc_env, tmp_path):
    """The README's FID of the fixtures, within the tolerance it states."""
    m = re.search(r"it prints `FID: ([0-9.]+)` \(±([0-9.e-]+)", (ROOT / "README.md").read_text())
    assert m, "the README states the fixtures' FID and its tolerance"
    r = _run("bash", "gan-eval fid real/ fake/ -q", _workdir(tmp_path), doc_env)
    assert r.returncode == 0, r.stderr
    got = float(r.stdout.split()[1])
    assert abs(got - float(m.group(1))) <= float(m.group(2)), (got, m.group(1))
