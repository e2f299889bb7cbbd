"""Training for families with several generator/discriminator pairs (CycleGAN, StackGAN).

The single-G/single-D trainer (:mod:`gan_eval_models.train`) does not fit two generators and two
discriminators, or two stages trained one after the other, so this module is the smallest
adapter with the same run-folder contract and the same exact-resume guarantee:

  config.json    the configuration and the hyperparameters it resolved to
  checkpoint.pt  every net, optimiser, random state and family state (e.g. CycleGAN's image
                 history), the step (atomic rewrite, :mod:`gan_eval_models.checkpoint`)
  log.jsonl      the mean losses every ``log_every`` steps
  samples_<step>.png  a picture of the family's choice at the end

A family module provides ``PAPER``, ``defaults(dataset)`` (a dict of hyperparameters),
``check_dataset(name)`` and a ``Trainer(cfg, hp, device)`` with ``nets`` (name → module),
``optimizers`` (name → optimiser), ``generators`` (name → seeded ``torch.Generator``),
``train_step(step) -> dict of float losses``, ``extra_state()`` / ``load_extra_state(state)``,
and ``save_picture(path)``. Schedules (CycleGAN's lr decay, StackGAN's switch to Stage-II) are
laid out over ``schedule_steps`` (a family parameter; default: the ``steps`` the run was started
with, kept on resume, so continuing a finished run for more steps does not rewrite its past). A run interrupted and resumed ends bit-identical, on CPU, to an
uninterrupted one (tests/test_multinet.py).
"""

import hashlib
import importlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from gan_eval.devices import resolve_device
from gan_eval.errors import GanEvalError

from . import checkpoint as ckpt
from .family_params import CONFIG_FIELDS, check_params
from .train import _prepare_dir, _unlock

FAMILIES = {"cyclegan": "gan_eval_models.models.cyclegan", "stackgan": "gan_eval_models.models.stackgan"}
LOG = "log.jsonl"
RUNTIME_FIELDS = ("steps", "out", "device", "quiet", "checkpoint_every", "log_every", "data_dir")


def is_family(model):
    return model in FAMILIES


def get_family(model):
    if model not in FAMILIES:
        raise GanEvalError(f"unknown multi-network model {model!r}; known: {', '.join(FAMILIES)}")
    return importlib.import_module(FAMILIES[model])


@dataclass
class NetsConfig:
    model: str  # cyclegan | stackgan
    dataset: str  # cyclegan: restyled-mnist | usps; stackgan: mnist
    steps: int
    out: str
    seed: int = 0
    device: str | None = None
    batch_size: int | None = None
    lr: float | None = None
    width: int | None = None
    checkpoint_every: int = 500
    log_every: int = 50
    data_dir: str | None = None
    quiet: bool = False
    params: dict = field(default_factory=dict)  # family hyperparameters, e.g. {"lambda_cycle": 10}

    def validate(self):
        module = get_family(self.model)
        module.check_dataset(self.dataset)
        for name, minimum in (("steps", 0), ("seed", 0), ("checkpoint_every", 1), ("log_every", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
                raise GanEvalError(f"{name} must be an integer >= {minimum}, got {v!r}")
        for name in ("batch_size", "width"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise GanEvalError(f"{name} must be a positive integer, got {v!r}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and np.isfinite(self.lr) and self.lr > 0):
            raise GanEvalError(f"lr must be a positive number, got {self.lr!r}")
        if not isinstance(self.params, dict):
            raise GanEvalError("params must be a dict")
        self.resolved()
        return self

    def resolved(self):
        """The family's defaults with this config's choices applied; unknown params, a setting given
        both as a field and as a param, and values of the wrong type or range
        (:mod:`gan_eval_models.family_params`) are refused with GanEvalError."""
        module = get_family(self.model)
        hp = module.defaults(self.dataset)
        unknown = sorted(set(self.params) - set(hp))
        if unknown:
            raise GanEvalError(f"unknown {self.model} parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(hp))}")
        twice = [name for name in CONFIG_FIELDS if name in self.params and getattr(self, name) is not None]
        if twice:
            raise GanEvalError(f"{twice[0]} given twice ({twice[0]}={getattr(self, twice[0])!r} and the parameter "
                               f"{twice[0]}={self.params[twice[0]]!r}); give it once")
        check_params(self.model, self.params)
        hp.update(self.params)
        for name in CONFIG_FIELDS:
            if getattr(self, name) is not None:
                hp[name] = getattr(self, name)
        check_params(self.model, hp)
        hp["steps"] = int(self.steps)
        if hp.get("schedule_steps") is None:
            hp["schedule_steps"] = int(self.steps)
        return json.loads(json.dumps(hp))

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _differences(saved, new):
    out = []
    for f in fields(NetsConfig):
        if f.name not in RUNTIME_FIELDS and json.dumps(saved.get(f.name), sort_keys=True) != json.dumps(new.get(f.name), sort_keys=True):
            out.append(f"{f.name}: {saved.get(f.name)!r} in the run, {new.get(f.name)!r} now")
    return out


def run_identity(cfg):
    """What a checkpoint must match to belong to a run: family, dataset and a hash of every setting
    that shapes the run (the non-runtime fields)."""
    shaping = {f.name: getattr(cfg, f.name) for f in fields(NetsConfig) if f.name not in RUNTIME_FIELDS}
    text = json.dumps(shaping, sort_keys=True, default=str)
    return {"model": cfg.model, "dataset": cfg.dataset, "config_sha256": hashlib.sha256(text.encode()).hexdigest()}


def _prepare(cfg, resume, overwrite):
    """Check the run folder and take its lock: train.py's :func:`gan_eval_models.train._prepare_dir`
    with this module's configuration comparison, so two processes never train into one folder;
    the caller releases it with ``_unlock``."""
    _prepare_dir(cfg, resume, overwrite, differences=lambda saved, c: _differences(saved.get("config", {}), asdict(c)))


def _state(trainer, step, elapsed, cfg, device):
    return {
        "format": ckpt.FORMAT,
        "step": step,
        "elapsed_s": elapsed,
        "config": asdict(cfg),
        "nets": {k: m.state_dict() for k, m in trainer.nets.items()},
        "optimizers": {k: o.state_dict() for k, o in trainer.optimizers.items()},
        "rng": {**ckpt.global_rng_state(device), "generators": {k: g.get_state() for k, g in trainer.generators.items()}},
        "extra": trainer.extra_state(),
    }


def _load_state(trainer, state, device):
    for k, m in trainer.nets.items():
        m.load_state_dict(state["nets"][k])
    for k, o in trainer.optimizers.items():
        o.load_state_dict(state["optimizers"][k])
    ckpt.set_global_rng_state(state["rng"], device)
    for k, g in trainer.generators.items():
        g.set_state(state["rng"]["generators"][k])
    trainer.load_extra_state(state["extra"])
    return int(state["step"]), float(state["elapsed_s"])


def read_log(run_dir):
    path = Path(run_dir) / LOG
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def train_nets(cfg, resume=False, overwrite=False):
    """Train `cfg.model` for `cfg.steps` steps in `cfg.out`; returns a summary dict (see train.train)."""
    cfg = cfg.validate()
    device = resolve_device(cfg.device)
    try:
        _prepare(cfg, resume, overwrite)
        return _train(cfg, resume, device)
    finally:
        _unlock(cfg.out)


def _train(cfg, resume, device):
    """The training loop of :func:`train_nets`, run while the folder's lock is held."""
    started = time.perf_counter()
    module = get_family(cfg.model)
    hp = cfg.resolved()
    run_dir = Path(cfg.out)
    if resume and cfg.params.get("schedule_steps") is None:  # the schedule stays the one the run started with
        hp["schedule_steps"] = ckpt.read_json(run_dir / ckpt.CONFIG).get("resolved", {}).get("schedule_steps", hp["steps"])
    with ckpt.rng_scope(cfg.seed, device):
        trainer = module.Trainer(cfg, hp, device)
        step, elapsed, resumed_from = 0, 0.0, None
        if resume:
            step, elapsed = _load_state(trainer, ckpt.load_checkpoint(run_dir / ckpt.CHECKPOINT, map_location=device,
                                                                  identity=run_identity(cfg)), device)
            resumed_from = step
            rows = [r for r in read_log(run_dir) if r.get("step", 0) <= step]  # replay lines after the checkpoint
            ckpt.atomic_write_bytes(run_dir / LOG, lambda f: f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()))
        ckpt.write_json(run_dir / ckpt.CONFIG, {"config": asdict(cfg), "resolved": hp, "family": cfg.model})
        sums, count, last = {}, 0, {}
        t0, base = time.perf_counter(), elapsed
        with open(run_dir / LOG, "a") as log:
            while step < cfg.steps:
                losses = trainer.train_step(step)
                step += 1
                bad = {k: v for k, v in losses.items() if not np.isfinite(v)}
                if bad:
                    raise GanEvalError(f"training diverged at step {step}: {bad} (try a smaller lr)")
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                elapsed = base + time.perf_counter() - t0
                if step % cfg.log_every == 0 or step == cfg.steps:
                    last = {k: v / count for k, v in sums.items()}
                    log.write(json.dumps({"step": step, **last, "elapsed_s": round(elapsed, 3)}, sort_keys=True) + "\n")
                    log.flush()
                    sums, count = {}, 0
                    if not cfg.quiet:
                        print(f"{cfg.model} step {step}/{cfg.steps}: " + " ".join(f"{k} {v:.3f}" for k, v in last.items()),
                              file=sys.stderr, flush=True)
                if step == cfg.steps or step % cfg.checkpoint_every == 0:
                    ckpt.save_checkpoint(run_dir / ckpt.CHECKPOINT, _state(trainer, step, elapsed, cfg, device),
                                         run_identity(cfg))
        if cfg.steps == 0 or not (run_dir / ckpt.CHECKPOINT).exists():
            ckpt.save_checkpoint(run_dir / ckpt.CHECKPOINT, _state(trainer, step, elapsed, cfg, device), run_identity(cfg))
        trainer.save_picture(run_dir / f"samples_{step}.png")
    return {"run_dir": str(run_dir), "model": cfg.model, "dataset": cfg.dataset, "steps": step, "final": last,
            "resumed_from": resumed_from, "wall_time_s": round(time.perf_counter() - started, 3),
            "train_time_total_s": round(elapsed, 3), "device": str(device), "hyperparameters": hp}


def load_trained(run_dir, device=None):
    """(family Trainer with the checkpoint's weights, nets in eval mode; NetsConfig) of a finished run."""
    run_dir, saved, cfg = ckpt.read_run_config(run_dir, NetsConfig)
    dev = resolve_device(device)
    state = ckpt.load_checkpoint(run_dir / ckpt.CHECKPOINT, map_location=dev, identity=run_identity(cfg))
    with ckpt.rng_scope(cfg.seed, dev):
        hp = saved.get("resolved") or cfg.resolved()
        hp.setdefault("schedule_steps", hp["steps"])
        trainer = get_family(cfg.model).Trainer(cfg, hp, dev, load_data=False)
    try:
        for k, m in trainer.nets.items():
            m.load_state_dict(state["nets"][k])
            m.eval()
    except (RuntimeError, KeyError) as e:
        raise GanEvalError(f"{run_dir}: checkpoint does not match its config.json ({e})") from None
    return trainer, cfg


def family_of(run_dir):
    """The multi-network family of a run folder ("cyclegan", "stackgan"), or None for a train.py run."""
    path = Path(run_dir) / ckpt.CONFIG
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("family")
    except (OSError, ValueError):
        return None


def ensure_trained(work_dir, name, **config):
    """Train the run ``work_dir/name`` (NetsConfig fields in `config`), resuming or reusing one of the
    same configuration that is already there; returns the training summary."""
    cfg = NetsConfig(out=str(Path(work_dir) / name), **config)
    if (Path(cfg.out) / ckpt.CHECKPOINT).is_file():
        try:
            return train_nets(cfg, resume=True)
        except GanEvalError:  # another configuration: start again
            pass
    return train_nets(cfg, overwrite=True)


def sample_family(run_dir, n=None, seed=0, device=None, input=None, direction="a2b", stage=2):
    """Images from a CycleGAN or StackGAN run as uint8 (N, H, W, 1).

    CycleGAN translates the images of `input` (a folder, zip, .npy/.npz or array of 28×28 images,
    colour averaged to grey) in `direction` ("a2b" or "b2a"); `n` keeps only the first n. StackGAN
    draws `n` samples of the classes 0, 1, …, 9, 0, 1, … at `stage` 1 (16 px) or 2 (32 px), latents
    from a generator seeded with `seed`.
    """
    trainer, cfg = load_trained(run_dir, device)
    if cfg.model == "cyclegan":
        if input is None:
            raise GanEvalError("a cyclegan run translates images: give an input folder (--input)")
        from gan_eval.inputs import load_images

        images = load_images(input)
        if n is not None:
            images = images[:n]
        grey = np.round(images.astype(np.float64).mean(-1)).astype(np.uint8)
        return trainer.translate(grey, direction)[..., None]
    if input is not None:
        raise GanEvalError(f"{cfg.model} draws samples; --input applies to cyclegan runs only")
    if n is None or isinstance(n, bool) or int(n) != n or n < 1:
        raise GanEvalError(f"n must be a positive integer, got {n!r}")
    if stage not in (1, 2):
        raise GanEvalError(f"stage must be 1 or 2, got {stage!r}")
    low, high = trainer.generate(np.arange(int(n)) % 10, seed=seed)
    return (low if stage == 1 else high)[..., None]
