"""Shared test fixtures: paths to committed fixtures and ../shared, and random Inception weights."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Tests never write outside temporary folders: $HOME is an empty temporary folder for the whole
# session (set before any test module or fixture runs, and inherited by subprocesses), and every
# test fails that leaves something in it (see _no_writes_to_home).
TEST_HOME = Path(tempfile.mkdtemp(prefix="gan-eval-test-home-"))
os.environ["HOME"] = str(TEST_HOME)
os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="gan-eval-test-mpl-")  # matplotlib's font cache
# Programs that follow the XDG folders (a browser's profile, dconf) get temporary ones of their own.
_XDG = Path(tempfile.mkdtemp(prefix="gan-eval-test-xdg-"))
for _name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = str(_XDG / _name.lower())


def home_writes():
    """Paths (relative to $HOME) that something wrote under the test session's $HOME."""
    return sorted(p.relative_to(TEST_HOME).as_posix() for p in TEST_HOME.rglob("*"))


def shared_root():
    env = os.environ.get("GAN_EVAL_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


def _need(path, what):
    """Return `path` if it exists; in CI a missing input fails, elsewhere it skips."""
    if Path(path).exists():
        return Path(path)
    msg = f"{what} not found at {path} (set GAN_EVAL_SHARED / GAN_EVAL_DATA)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def fixtures_dir():
    return ROOT / "data" / "fixtures"


@pytest.fixture(scope="session")
def shared_dir():
    return _need(shared_root(), "../shared")


@pytest.fixture(scope="session")
def torchscript_weights():
    return _need(shared_root() / "weights" / "inception-2015-12-05-features.torchscript.pt", "shared TorchScript weights")


@pytest.fixture(scope="session")
def mnist_dir():
    env = os.environ.get("GAN_EVAL_DATA")
    return _need(Path(env) if env else shared_root() / "data" / "mnist", "MNIST idx files")


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A .pth state dict of seeded random weights in pytorch-fid's pt_inception layout."""
    from gan_eval.features.random_weights import save_random_weights

    return save_random_weights(tmp_path_factory.mktemp("weights") / "random_pt_inception.pth", seed=0)


@pytest.fixture(autouse=True)
def _no_writes_to_home():
    yield
    written = home_writes()
    if written:
        for p in TEST_HOME.iterdir():  # so that the next test is judged on its own
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
        pytest.fail(f"the test wrote under $HOME: {', '.join(written[:5])}")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache dir and no weights from the environment."""
    monkeypatch.setenv("GAN_EVAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GAN_EVAL_INCEPTION_WEIGHTS", raising=False)


@pytest.fixture
def one_thread():
    """Tiny networks run faster on one thread: no OpenMP spin-waits on a busy machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
