"""Train a reference GAN: ``train(TrainConfig(...))`` or ``gan-eval train MODEL --dataset D ...``.

One *step* is ``g_steps`` (default 1) generator updates preceded by ``k_disc`` discriminator
updates, each on a fresh real minibatch (Goodfellow et al. 2014, Algorithm 1), or, with
``update="simultaneous"`` (the 2014 code's rule, the default of gan2014 on images), one update
of both nets from the same minibatch. With packing degree m (PacGAN) a minibatch holds
``batch_size`` m-tuples, i.e. batch_size·m real and as many generated samples.

Protocol options (PacGAN's Stacked MNIST code, ``stacked_MNIST_experiments``): ``g_steps=2``
(VEEGAN setting: "run g_optim twice"); ``reuse_z`` (G's updates use the latents of the step's
last D update, as both of its settings feed the same z); ``g_per_slot`` (with packing, G runs
once per packing slot on batch_size latents, so batch-norm statistics cover batch_size samples,
and the slots are concatenated); ``real_batches``: "shuffled" (a new permutation of the training
set each epoch), "fixed-tuples" (``batches.FixedTupleBatches``: fixed m-tuples in a fixed order)
or "fresh" (``batches.FreshStackedBatches``: new Stacked MNIST triples every batch);
``sample_bn``: batch norm at sampling in "eval" mode (running statistics) or "batch" mode
(statistics of each sampling batch of batch_size, as Metz et al.'s and that D = ½ G code's
sampler). A run may stop early at a ``deadline`` (``train(..., deadline=)``), with a checkpoint.

Run folder:
  config.json       the configuration (and the defaults it resolved to)
  checkpoint.pt     models, optimisers, every random state, data order, step, the loss sums of
                    the log line in progress; with a checksum and the run's identity (atomic rewrite)
  log.jsonl         one JSON object per line: losses every ``log_every`` steps, metrics per evaluation
  samples_<step>.png  an 8×8 grid of samples (images) or a scatter plot (2-D data) per evaluation

Guarantees: a run is a function of its configuration (seeded ``torch.Generator``s for latents
and data order, seeded global generators for initialisation and dropout). ``resume=True``
restores all of that from the checkpoint, so on CPU a run interrupted and resumed ends
bit-identical to an uninterrupted one (on CUDA, up to the non-determinism of some cuDNN/cuBLAS
kernels). A folder that already holds a checkpoint is never overwritten unless asked
(``overwrite=True``), and a resume whose configuration differs (other than the run-time
fields) is refused, naming the difference.

Faults: Ctrl-C (SIGINT) takes effect between steps: the step in progress finishes, a checkpoint
of that step is written and the run stops (a second Ctrl-C stops at once, keeping the last
checkpoint). A resume truncates log.jsonl to the checkpoint's step (dropping a line torn by a
crash), so the log of an interrupted-and-resumed run equals an uninterrupted run's. Checkpoints
carry a checksum and the run's identity; a damaged or foreign one is refused. One process at a
time trains in a folder (an advisory lock on it).
"""

import copy
import hashlib
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from gan_eval.devices import resolve_device
from gan_eval.errors import GanEvalError

from . import checkpoint as ckpt
from .batches import FixedTupleBatches, FreshStackedBatches, MixtureBatches, TensorBatches
from .datasets import DATASETS, dataset_spec, get_dataset
from .datasets import check_name as check_dataset
from .models.layers import MBD_REVISION
from .models import build_models, get_model
from .models import check_name as check_model
from .models import losses as L
from .models.latent import LATENTS, sample_latent

UPDATES = ("alternating", "simultaneous")
MNIST_TRAIN = 50_000  # train[0:50000] for training, train[50000:60000] for validation (2014 protocol)
LOG = "log.jsonl"
MBD_INIT = 500  # real samples for minibatch discrimination's init (improved-gan's init_param(trainx[:500]))

# fields that may change between a run and its resume; everything else must match
RUNTIME_FIELDS = (
    "steps", "out", "device", "quiet", "checkpoint_every", "eval_every", "data_dir", "log_every", "eval_samples", "fid",
)

# protocol fields left out of a run's identity while at these defaults, so runs trained before
# they existed keep theirs (train.run_identity)
NEUTRAL_DEFAULTS = {"g_steps": 1, "reuse_z": False, "g_per_slot": False, "real_batches": "shuffled", "sample_bn": "eval"}
REAL_BATCHES = ("shuffled", "fixed-tuples", "fresh")
SAMPLE_BN = ("eval", "batch")

# fields whose None means "the model's default": compared by the value they resolve to
RESOLVED_FIELDS = ("batch_size", "lr", "d_lr", "ema", "loss", "latent", "latent_dim", "width", "n_labels", "update", "optimizer")
OPTIMIZERS = ("sgd", "adam")
# settings used when an optimiser other than the model's own is chosen (DCGAN's Adam; plain momentum SGD)
OPTIMIZER_FALLBACKS = {"adam": {"lr": 2e-4, "betas": (0.5, 0.999)}, "sgd": {"lr": 0.01, "momentum": 0.5}}


@dataclass
class TrainConfig:
    model: str  # gan2014 | dcgan | lsgan | acgan | sgan
    dataset: str  # mnist | cifar10 | ring | grid | stacked-mnist
    steps: int
    out: str  # run directory
    seed: int = 0
    device: str | None = None  # None = cuda if available
    batch_size: int | None = None  # None = the model's paper default
    lr: float | None = None
    loss: str | None = None  # minimax | non-saturating | least-squares (None = model default)
    k_disc: int = 1  # discriminator steps per generator step
    minibatch_disc: bool = False
    pack: int = 1  # PacGAN packing degree m
    checkpoint_every: int = 1000
    eval_every: int = 0  # 0 = only at the end
    data_dir: str | None = None
    quiet: bool = False
    latent_dim: int | None = None  # None = model default (100 for images, 2 for 2-D data)
    latent: str | None = None  # gaussian | uniform (None = model default)
    width: int | None = None  # base width of the nets (None = model default)
    image_size: int | None = None  # resize images (e.g. 32 or 64 for DCGAN); None = native
    n_labels: int | None = None  # sgan: labelled training examples (None = 100)
    dataset_params: dict = field(default_factory=dict)  # e.g. {"n_modes": 8, "std": 0.01}
    eval_samples: int | None = None  # samples per evaluation (None: 2500 points / 1000 images)
    log_every: int = 100
    fid: bool | None = None  # FID/KID at the end (None: only on CUDA, when gan_eval and the weights resolve)
    update: str | None = None  # alternating (Algorithm 1) | simultaneous (the 2014 code); None = model default
    optimizer: str | None = None  # sgd | adam (None = model default; else the model's optimizer_settings or OPTIMIZER_FALLBACKS)
    d_lr: float | None = None  # discriminator learning rate (None = the model's default, else lr)
    ema: float | None = None  # decay of a moving average of G's weights used for samples (None = model default; 0 = off)
    g_steps: int = 1  # generator updates per step (alternating updates)
    reuse_z: bool = False  # G's updates reuse the latents of the step's last D update
    g_per_slot: bool = False  # with packing: G run once per packing slot (batch-norm statistics over batch_size)
    real_batches: str = "shuffled"  # shuffled | fixed-tuples | fresh (stacked-mnist only)
    sample_bn: str = "eval"  # batch norm when sampling: eval (running statistics) | batch (per batch of batch_size)

    def validate(self):
        check_model(self.model)
        check_dataset(self.dataset)
        _int(self.steps, "steps", 0)
        _int(self.seed, "seed", 0)
        _int(self.k_disc, "k_disc", 1)
        _int(self.pack, "pack", 1)
        _int(self.checkpoint_every, "checkpoint_every", 1)
        _int(self.eval_every, "eval_every", 0)
        _int(self.log_every, "log_every", 1)
        _int(self.g_steps, "g_steps", 1)
        for name in ("reuse_z", "g_per_slot"):
            if not isinstance(getattr(self, name), bool):
                raise GanEvalError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.real_batches not in REAL_BATCHES:
            raise GanEvalError(f"real_batches must be one of {', '.join(REAL_BATCHES)}, got {self.real_batches!r}")
        if self.real_batches == "fresh" and self.dataset != "stacked-mnist":
            raise GanEvalError(f"real_batches='fresh' draws new Stacked MNIST triples; it applies to stacked-mnist, "
                               f"not {self.dataset}")
        if self.real_batches == "fixed-tuples" and DATASETS[self.dataset].kind != "image":
            raise GanEvalError(f"real_batches='fixed-tuples' applies to image datasets, not {self.dataset}")
        if self.sample_bn not in SAMPLE_BN:
            raise GanEvalError(f"sample_bn must be one of {', '.join(SAMPLE_BN)}, got {self.sample_bn!r}")
        if self.ema is not None and not (isinstance(self.ema, (int, float)) and 0 <= self.ema < 1):
            raise GanEvalError(f"ema must be a number in [0, 1), got {self.ema!r}")
        for name in ("batch_size", "latent_dim", "width", "eval_samples"):
            if getattr(self, name) is not None:
                _int(getattr(self, name), name, 1)
        for name in ("lr", "d_lr"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise GanEvalError(f"{name} must be a positive number, got {v!r}")
        if self.loss is not None:
            L.check_loss(self.loss)
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise GanEvalError(f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        if self.update is not None and self.update not in UPDATES:
            raise GanEvalError(f"unknown update rule {self.update!r}; known: {', '.join(UPDATES)}")
        if self.latent is not None and self.latent not in LATENTS:
            raise GanEvalError(f"unknown latent distribution {self.latent!r}; known: {', '.join(LATENTS)}")
        objective = get_model(self.model).OBJECTIVE
        if self.pack > 1 and objective != "gan":
            raise GanEvalError(f"{self.model} has a class head, which packing (pack={self.pack}) does not define; use pack=1")
        if objective == "sgan" and self.loss == "least-squares":
            raise GanEvalError("sgan supports the losses minimax and non-saturating, not least-squares")
        if self.n_labels is not None:
            if objective != "sgan":
                raise GanEvalError(f"n_labels applies to sgan only, not {self.model}")
            _int(self.n_labels, "n_labels", 1)
        if self.image_size is not None:
            if DATASETS[self.dataset].kind != "image":
                raise GanEvalError(f"image_size applies to image datasets, not {self.dataset}")
            _int(self.image_size, "image_size", 8)
        if not isinstance(self.dataset_params, dict):
            raise GanEvalError("dataset_params must be a dict")
        self.spec()  # checks dataset_params
        if self.resolved()["update"] == "simultaneous":
            for name, bad in (("k_disc", self.k_disc > 1), ("g_steps", self.g_steps > 1), ("reuse_z", self.reuse_z)):
                if bad:
                    raise GanEvalError(f"{name}={getattr(self, name)} needs alternating updates; simultaneous updates take "
                                       "one D and one G step per minibatch (pass update='alternating' / --update alternating)")
        return self

    def spec(self):
        return dataset_spec(self.dataset, self.image_size, **self.dataset_params)

    def resolved(self):
        """The effective hyperparameters: the model's defaults with this config's choices applied."""
        spec, module = self.spec(), get_model(self.model)
        d = module.defaults(spec)
        d.setdefault("update", "alternating")
        if self.optimizer is not None and self.optimizer != d["optimizer"]:
            for key in ("lr", "d_lr", "betas", "momentum", "n_train"):
                d.pop(key, None)
            own = getattr(module, "optimizer_settings", lambda spec: {})(spec).get(self.optimizer)
            d.update(own or {**OPTIMIZER_FALLBACKS[self.optimizer], "schedule": False}, optimizer=self.optimizer)
        if self.lr is not None and self.d_lr is None:
            d.pop("d_lr", None)  # a chosen lr applies to both nets unless d_lr is chosen too
        for name in RESOLVED_FIELDS:
            if getattr(self, name) is not None:
                d[name] = getattr(self, name)
        d.setdefault("d_lr", d["lr"])
        d.setdefault("ema", 0.0)
        d["k_disc"], d["pack"], d["minibatch_disc"] = self.k_disc, self.pack, self.minibatch_disc
        d["spec"] = {**spec, "shape": list(spec["shape"])}
        if "betas" in d:
            d["betas"] = list(d["betas"])
        return d

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise GanEvalError(f"{name} must be an integer >= {minimum}, got {value!r}")


def ema_rate(t, decay):
    """Weight of the t-th iterate (t = 1, 2, ...) in a bias-corrected moving average of G's weights.

    ema_t = Σ_{k≤t} (1 − d)·d^(t−k)·θ_k / (1 − d^t), i.e. ema_t = ema_{t−1} + r_t·(θ_t − ema_{t−1})
    with r_t = (1 − d) / (1 − d^t) (Adam's bias correction, Kingma & Ba 2015, §3): the first
    iterate replaces the initial weights and short runs average their own iterates (about the
    weights of mid-run) instead of staying near the initialisation; once d^t is small the rate
    is the plain 1 − d.
    """
    return (1.0 - decay) / -np.expm1(t * np.log(decay)) if decay > 0 else 1.0


def run_identity(cfg, hp):
    """What a checkpoint must match to belong to a run: model, dataset and a hash of every
    setting that shapes the run (the non-runtime fields, with model defaults resolved in `hp`)."""
    shaping = {f.name: getattr(cfg, f.name) for f in fields(TrainConfig)
               if f.name not in RUNTIME_FIELDS and f.name not in RESOLVED_FIELDS
               and not (f.name in NEUTRAL_DEFAULTS and getattr(cfg, f.name) == NEUTRAL_DEFAULTS[f.name])}
    if cfg.minibatch_disc:
        shaping["minibatch_layer"] = MBD_REVISION
    text = json.dumps({"config": shaping, "resolved": hp}, sort_keys=True, default=str)
    return {"model": cfg.model, "dataset": cfg.dataset, "config_sha256": hashlib.sha256(text.encode()).hexdigest()}


def has_checkpoint(run_dir):
    """Whether `run_dir` holds a training checkpoint (what ``resume=True`` needs)."""
    return (Path(run_dir) / ckpt.CHECKPOINT).is_file()


def config_differences(saved, new, saved_resolved=None, new_resolved=None):
    """Names and values of the non-runtime fields that differ between two config dicts.

    With the resolved hyperparameters of both, a default left as None and the same value given
    explicitly count as equal.
    """
    out = []
    for f in fields(TrainConfig):
        if f.name in RUNTIME_FIELDS:
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        a, b = saved.get(f.name, None if default is MISSING else default), new.get(f.name)
        if f.name in RESOLVED_FIELDS and saved_resolved and new_resolved and f.name in saved_resolved:
            a, b = saved_resolved[f.name], new_resolved.get(f.name)
        if _canon(a) != _canon(b):
            out.append(f"{f.name}: {a!r} in the run, {b!r} now")
    return out


def _canon(v):
    return json.loads(json.dumps(v, sort_keys=True))


class _Run:
    """Everything one training run holds: data, nets, optimisers, generators, counters."""

    def __init__(self, cfg, device):
        self.cfg, self.device, self.dir = cfg, device, Path(cfg.out)
        self.module = get_model(cfg.model)
        self.spec = cfg.spec()
        self.hp = cfg.resolved()
        self.loss = self.hp["loss"]
        self.noise_gen = torch.Generator().manual_seed(cfg.seed)
        self.data_gen = torch.Generator().manual_seed(cfg.seed + 10_007)
        self.G, self.D = build_models(
            cfg.model, self.spec, self.hp["latent_dim"], self.hp["latent"], self.hp["width"], cfg.pack, cfg.minibatch_disc
        )
        self.validation = self.test = self.mixture = None
        self._load_data()
        self.G.to(device)
        self.D.to(device)
        self._init_minibatch_disc()
        # Polyak averaging of G's weights (Yazıcı et al. 2019); samples and metrics use the average
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if self.hp["ema"] else None
        self.opt_g, self.opt_d = self._optimizer(self.G, self.hp["lr"]), self._optimizer(self.D, self.hp["d_lr"])
        self.step, self.elapsed = 0, 0.0
        self.log_sums, self.log_count = [0.0, 0.0], 0  # losses since the last log line (part of the state)
        self.identity = run_identity(cfg, self.hp)

    def _load_data(self):
        cfg = self.cfg
        if self.spec["kind"] == "points":
            self.mixture = get_dataset(cfg.dataset, **cfg.dataset_params)
            self.batches = MixtureBatches(self.mixture, self.data_gen, self.device)
            x, y = self.mixture.sample_with_labels(10_000, torch.Generator().manual_seed(cfg.seed + 3))
            self.test = (x.to(self.device), y.to(self.device))
            train_x = train_y = None
        else:
            params = dict(cfg.dataset_params)
            if cfg.image_size is not None:
                params["size"] = cfg.image_size
            ds = get_dataset(cfg.dataset, cfg.data_dir, "train", **params)
            images, labels = ds.images, ds.labels
            if cfg.dataset == "mnist":
                self.validation = torch.from_numpy(np.array(images[MNIST_TRAIN:])).permute(0, 3, 1, 2).contiguous()
                images, labels = images[:MNIST_TRAIN], labels[:MNIST_TRAIN]
            train_x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).contiguous()
            train_y = torch.from_numpy(np.array(labels))
            self.batches = self._batches(train_x, train_y)
            self.train_images = images
            if hasattr(self.module, "init_from_data"):
                self.module.init_from_data(self.G, train_x.double().mean(0) / 255.0)
            if self.module.OBJECTIVE in ("sgan", "acgan"):
                test = get_dataset(cfg.dataset, cfg.data_dir, "test", **params)
                tx = torch.from_numpy(np.array(test.images)).permute(0, 3, 1, 2)
                lo, hi = self.G.output_range
                self.test = ((tx.float() * ((hi - lo) / 255.0) + lo).to(self.device), torch.from_numpy(np.array(test.labels)).to(self.device))
        if self.module.OBJECTIVE == "sgan":
            self.labelled = self._labelled_batches(train_x, train_y)

    def _batches(self, train_x, train_y):
        kind, out_range = self.cfg.real_batches, self.G.output_range
        if kind == "fixed-tuples":
            return FixedTupleBatches(train_x, train_y, self.data_gen, out_range, self.device, self.cfg.pack, len(train_x))
        if kind == "fresh":
            from .datasets.stacked_mnist import load_digits

            split = "all" if self.cfg.dataset_params.get("digits") == "all" else "train"
            digits, labels = load_digits(self.cfg.data_dir, split)
            return FreshStackedBatches(torch.from_numpy(np.array(digits)), torch.from_numpy(np.array(labels)),
                                       self.data_gen, out_range, self.device)
        return TensorBatches(train_x, train_y, self.data_gen, out_range, self.device)

    def _init_minibatch_disc(self):
        """The reference's data-dependent init of minibatch discrimination, on MBD_INIT real samples
        drawn with their own generator (the run's data order is untouched)."""
        if getattr(self.D, "mbd", None) is None:
            return
        g, b, pack = torch.Generator().manual_seed(self.cfg.seed + 20_011), self.batches, self.cfg.pack
        if self.mixture is not None:
            source, n = MixtureBatches(self.mixture, g, self.device), MBD_INIT
        else:
            source = b.fork(g)
            n = min(MBD_INIT, len(b.data)) if hasattr(b, "data") else MBD_INIT
        self.D.init_minibatch_disc(source.next(n - n % pack)[0])

    def _labelled_batches(self, train_x, train_y):
        """A class-balanced labelled subset of n_labels examples, chosen with the run's seed."""
        k, n = self.spec["n_classes"], self.hp["n_labels"]
        if n < k:
            raise GanEvalError(f"n_labels={n} is fewer than the {k} classes of {self.cfg.dataset}")
        rng = np.random.default_rng(self.cfg.seed)
        if train_x is None:  # 2-D mixture: a fixed labelled draw
            g = torch.Generator().manual_seed(self.cfg.seed + 4)
            x, y = self.mixture.sample_with_labels(n, g)
        else:
            labels = train_y.numpy()
            per_class = [n // k + (1 if c < n % k else 0) for c in range(k)]
            chosen = []
            for c in range(k):
                pool = np.flatnonzero(labels == c)
                if len(pool) < per_class[c]:
                    raise GanEvalError(f"n_labels={n}: class {c} has only {len(pool)} training examples")
                chosen.append(rng.choice(pool, per_class[c], replace=False))
            idx = torch.from_numpy(np.sort(np.concatenate(chosen)))
            x, y = train_x[idx], train_y[idx]
        return TensorBatches(x, y, self.data_gen, self.G.output_range, self.device)

    def real_uint8(self, n):
        """The first n training images (uint8 NHWC), for FID/KID."""
        return self.train_images[:n]

    @property
    def sampler(self):
        """The generator that samples and metrics use: the weight average when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def _update_ema(self):
        rate = ema_rate(self.step + 1, self.hp["ema"])
        with torch.no_grad():
            torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), rate)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)

    def _optimizer(self, net, lr):
        hp = self.hp
        if hp["optimizer"] == "sgd":
            return torch.optim.SGD(net.parameters(), lr=lr, momentum=hp["momentum"])
        return torch.optim.Adam(net.parameters(), lr=lr, betas=tuple(hp["betas"]))

    # --- one step ---------------------------------------------------------------------------

    def _latent(self, n):
        z = sample_latent(n, self.G.latent_dim, self.G.latent, self.noise_gen).to(self.device)
        y = torch.randint(self.G.n_classes, (n,), generator=self.noise_gen).to(self.device) if self.G.n_classes else None
        return z, y

    def _d_loss(self, x, y, out_fake, y_fake):
        objective, D = self.module.OBJECTIVE, self.D
        if objective == "gan":
            return L.discriminator_loss(D(x), out_fake, self.loss)
        if objective == "acgan":
            return L.acgan_discriminator_loss(D(x), y, out_fake, y_fake, self.loss)
        xl, yl = self.labelled.next(self.hp["batch_size"])
        return L.sgan_discriminator_loss(D(xl), yl, D(x), out_fake)

    def _g_loss(self, out_fake, y_fake):
        objective = self.module.OBJECTIVE
        if objective == "gan":
            return L.generator_loss(out_fake, self.loss)
        if objective == "acgan":
            return L.acgan_generator_loss(out_fake, y_fake, self.loss)
        return L.sgan_generator_loss(out_fake, self.loss)

    def _set_schedule(self):
        hp = self.hp
        if hasattr(self.module, "schedule") and hp["optimizer"] == "sgd" and hp.get("schedule", True):
            lr, momentum = self.module.schedule(self.step, hp["lr"], hp["batch_size"], hp.get("n_train", MNIST_TRAIN))
            for opt, scale in ((self.opt_g, 1.0), (self.opt_d, hp["d_lr"] / hp["lr"])):
                for group in opt.param_groups:
                    group["lr"], group["momentum"] = lr * scale, momentum

    def train_step(self):
        """One generator update after k_disc discriminator updates (or one simultaneous update)."""
        self._set_schedule()
        n = self.hp["batch_size"] * self.cfg.pack
        if self.hp["update"] == "simultaneous":
            d_loss, g_loss = self._simultaneous_step(n)
        else:
            d_loss, g_loss = self._alternating_step(n)
        if self.G_ema is not None:
            self._update_ema()
        self.step += 1
        d, g = float(d_loss.detach()), float(g_loss.detach())
        if not (np.isfinite(d) and np.isfinite(g)):
            raise GanEvalError(f"training diverged at step {self.step}: d_loss={d}, g_loss={g} (try a smaller lr)")
        return d, g

    def _alternating_step(self, n):
        """Algorithm 1 of Goodfellow et al. 2014: k D steps on fresh minibatches, then one G step."""
        D = self.D
        for _ in range(self.cfg.k_disc):
            x, y = self.batches.next(n)
            z, y_fake = self._latent(n)
            with torch.no_grad():
                fake = self._generate(z, y_fake)
            d_loss = self._d_loss(x, y, D(fake), y_fake)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
        for _ in range(self.cfg.g_steps):
            D.requires_grad_(False)
            try:
                if not self.cfg.reuse_z:
                    z, y_fake = self._latent(n)
                g_loss = self._g_loss(D(self._generate(z, y_fake)), y_fake)
                self.opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
            finally:
                D.requires_grad_(True)
            self.opt_g.step()
        return d_loss, g_loss

    def _generate(self, z, y):
        """G(z); with ``g_per_slot`` and packing m, G runs on each of m slices of n/m latents and
        sample i·m + j is slot j's i-th (PacGAN's ``G = concat([G(z_0), ..., G(z_{m-1})], channels)``)."""
        m = self.cfg.pack
        if not self.cfg.g_per_slot or m == 1:
            return self.G(z, y)
        slots = [self.G(zj, None if y is None else yj) for zj, yj in
                 zip(z.chunk(m), y.chunk(m) if y is not None else [None] * m)]
        return torch.stack(slots, 1).flatten(0, 1)

    def _simultaneous_step(self, n):
        """The 2014 code's update: D's and G's gradients from one minibatch and one pass of D over
        the generated samples (same dropout masks), then both optimisers step."""
        G, D = self.G, self.D
        x, y = self.batches.next(n)
        z, y_fake = self._latent(n)
        out_fake = D(G(z, y_fake))
        d_loss = self._d_loss(x, y, out_fake, y_fake)
        g_loss = self._g_loss(out_fake, y_fake)
        d_params, g_params = list(D.parameters()), list(G.parameters())
        d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
        g_grads = torch.autograd.grad(g_loss, g_params)
        for p, grad in zip(d_params + g_params, d_grads + g_grads):
            p.grad = grad
        self.opt_d.step()
        self.opt_g.step()
        return d_loss, g_loss

    # --- checkpoints ------------------------------------------------------------------------

    def state_dict(self):
        return {
            "format": ckpt.FORMAT,
            "step": self.step,
            "elapsed_s": self.elapsed,
            "config": asdict(self.cfg),
            "generator": self.G.state_dict(),
            "generator_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": {
                **ckpt.global_rng_state(self.device),
                "noise": self.noise_gen.get_state(),
                "data": self.data_gen.get_state(),
            },
            "batches": self.batches.state_dict(),
            "labelled": self.labelled.state_dict() if hasattr(self, "labelled") else None,
            "log_sums": list(self.log_sums),
            "log_count": self.log_count,
        }

    def load_state_dict(self, state):
        self.G.load_state_dict(state["generator"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["generator_ema"])
        self.D.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        ckpt.set_global_rng_state(state["rng"], self.device)
        self.noise_gen.set_state(state["rng"]["noise"])
        self.data_gen.set_state(state["rng"]["data"])
        self.batches.load_state_dict(state["batches"])
        if state.get("labelled") is not None:
            self.labelled.load_state_dict(state["labelled"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed_s"])
        self.log_sums = [float(v) for v in state.get("log_sums", (0.0, 0.0))]
        self.log_count = int(state.get("log_count", 0))

    def save(self):
        path = self.dir / ckpt.CHECKPOINT
        try:
            ckpt.save_checkpoint(path, self.state_dict(), self.identity)
        except OSError as e:
            raise GanEvalError(f"{path}: cannot write the checkpoint ({_os_reason(e)}); "
                               f"the previous one, if any, is intact") from None


def _os_reason(e):
    return e.strerror or str(e) if isinstance(e, OSError) else str(e)


def _config_differences(saved, cfg):
    return config_differences(saved.get("config", {}), asdict(cfg), saved.get("resolved"), cfg.resolved())


def _prepare_dir(cfg, resume, overwrite, differences=_config_differences):
    """Check the run folder `cfg.out` and take its lock (released by the caller with ``_unlock``).

    resume: the folder must hold a checkpoint whose saved config.json shows no
    ``differences(saved, cfg)`` (a list of strings). Otherwise the folder is cleared of an earlier
    run's files, and a checkpoint in it is refused unless `overwrite`.
    """
    run_dir = Path(cfg.out)
    if run_dir.exists() and not run_dir.is_dir():
        raise GanEvalError(f"{run_dir} exists and is not a folder")
    checkpoint = run_dir / ckpt.CHECKPOINT
    if resume:
        if not checkpoint.is_file():
            raise GanEvalError(f"{run_dir}: no checkpoint to resume from (train without resume to start a run)")
        _lock(run_dir)
        diffs = differences(ckpt.read_json(run_dir / ckpt.CONFIG), cfg)
        if diffs:
            raise GanEvalError(f"{run_dir}: cannot resume, the configuration differs from the run's: {'; '.join(diffs)}")
        return
    if checkpoint.is_file():
        if not overwrite:
            raise GanEvalError(
                f"{run_dir} already holds a checkpoint; pass resume=True (--resume) to continue it "
                "or overwrite=True (--overwrite) to start again"
            )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanEvalError(f"{run_dir}: cannot create the run folder ({_os_reason(e)})") from None
    _lock(run_dir)
    if checkpoint.is_file() and not overwrite:  # written by a process that held the lock first
        raise GanEvalError(f"{run_dir} already holds a checkpoint; pass resume=True (--resume) to continue it")
    # a fresh run: also the files of an earlier run that died before its first checkpoint
    try:
        for p in [checkpoint, run_dir / ckpt.CONFIG, run_dir / LOG, *run_dir.glob("samples_*.png")]:
            p.unlink(missing_ok=True)
    except OSError as e:
        raise GanEvalError(f"{run_dir}: cannot clear the folder for a new run ({_os_reason(e)})") from None


_LOCKS = {}  # run folder -> open descriptor holding its lock, for the life of the process


def _lock(run_dir):
    """Take an advisory lock on the run folder, so two processes never train in it at once."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    key = os.path.realpath(run_dir)
    if key in _LOCKS:
        return
    fd = os.open(key, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise GanEvalError(f"{run_dir}: another process is training in this folder") from None
    _LOCKS[key] = fd


def _unlock(run_dir):
    fd = _LOCKS.pop(os.path.realpath(run_dir), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the lock


def _truncate_log(path, step):
    """Keep only the log lines up to `step`: lines written after the checkpoint are replayed, and
    a line torn by a crash mid-write (not valid JSON) is dropped."""
    if not path.exists():
        return
    keep = [json.dumps(r, sort_keys=True) for r in _rows(path) if r.get("step", 0) <= step]
    try:
        ckpt.atomic_write_bytes(path, lambda f: f.write("".join(k + "\n" for k in keep).encode()))
    except OSError as e:
        raise GanEvalError(f"{path}: cannot rewrite the log ({_os_reason(e)})") from None


def _rows(path):
    rows = []
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # blank, or torn by a crash mid-write
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_log(run_dir):
    """The rows of a run's log.jsonl, oldest first ([] when there is none yet); a line torn by a
    crash mid-write is skipped."""
    path = Path(run_dir) / LOG
    return _rows(path) if path.exists() else []


def _last_metrics(run_dir):
    return next((r["metrics"] for r in reversed(read_log(run_dir)) if "metrics" in r), {})


class _Log:
    def __init__(self, path):
        self.path = path
        try:
            self.f = open(path, "a")
        except OSError as e:
            raise GanEvalError(f"{path}: cannot open the log ({_os_reason(e)})") from None

    def write(self, row):
        try:
            self.f.write(json.dumps(row, sort_keys=True) + "\n")
            self.f.flush()
        except OSError as e:
            raise GanEvalError(f"{self.path}: cannot write the log ({_os_reason(e)}); "
                               "resume from the last checkpoint once there is room") from None

    def close(self):
        try:
            self.f.close()
        except OSError:
            pass


@contextmanager
def _sigint_at_step_boundaries():
    """Make SIGINT set a flag that the loop checks between steps (yields a callable reading it).

    A second SIGINT raises KeyboardInterrupt at once. Outside the main thread, or when SIGINT
    is ignored (a background job), nothing changes.
    """
    hits = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        yield lambda: False
        return

    def handler(signum, frame):
        hits.append(signum)
        if len(hits) > 1:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def train(config, resume=False, overwrite=False, deadline=None):
    """Train `config.model` on `config.dataset` for `config.steps` generator steps; return a summary.

    deadline: a ``time.time()`` value; at the first step boundary past it the run writes a
    checkpoint and stops (``summary["steps"]`` < ``config.steps``; resume to continue).

    The summary holds run_dir, steps, resumed_from, final losses (means over the last
    ``log_every`` steps), the last evaluation's metrics, the wall time of this call and the
    total over all resumes, and the resolved hyperparameters.
    """
    cfg = config.validate()
    device = resolve_device(cfg.device)
    try:
        _prepare_dir(cfg, resume, overwrite)
        started = time.perf_counter()
        with ckpt.rng_scope(cfg.seed, device):
            run = _Run(cfg, device)
            resumed_from = None
            if resume:
                state = ckpt.load_checkpoint(run.dir / ckpt.CHECKPOINT, map_location=device, identity=run.identity)
                run.load_state_dict(state)
                resumed_from = run.step
                _truncate_log(run.dir / LOG, run.step)
            try:
                ckpt.write_json(run.dir / ckpt.CONFIG, {"config": asdict(cfg), "resolved": run.hp})
            except OSError as e:
                raise GanEvalError(f"{run.dir / ckpt.CONFIG}: cannot write ({_os_reason(e)})") from None
            summary = _loop(run, started, deadline)
    finally:
        _unlock(cfg.out)
    summary["resumed_from"] = resumed_from
    return summary


_now = time.time  # the clock deadlines are read from


def _loop(run, started, deadline=None):
    from tqdm import tqdm

    from . import monitor

    cfg = run.cfg
    log = _Log(run.dir / LOG)
    last = {}
    metrics = {}
    bar = tqdm(total=cfg.steps, initial=min(run.step, cfg.steps), disable=cfg.quiet, file=sys.stderr,
               desc=f"{cfg.model}/{cfg.dataset}", dynamic_ncols=True, leave=False)
    t0 = time.perf_counter()
    base_elapsed = run.elapsed
    if run.step >= cfg.steps:  # resuming a finished run: report its last evaluation
        metrics = _last_metrics(run.dir)
    try:
        with _sigint_at_step_boundaries() as interrupted:
            while run.step < cfg.steps:
                if deadline is not None and _now() >= deadline:
                    if run.step % cfg.checkpoint_every or not (run.dir / ckpt.CHECKPOINT).is_file():
                        run.save()
                    break
                d, g = run.train_step()
                run.log_sums = [run.log_sums[0] + d, run.log_sums[1] + g]
                run.log_count += 1
                run.elapsed = base_elapsed + time.perf_counter() - t0
                bar.update(1)
                if run.step % cfg.log_every == 0 or run.step == cfg.steps:
                    last = {"d_loss": run.log_sums[0] / run.log_count, "g_loss": run.log_sums[1] / run.log_count}
                    log.write({"step": run.step, **last, "elapsed_s": round(run.elapsed, 3)})
                    bar.set_postfix(d=f"{last['d_loss']:.3f}", g=f"{last['g_loss']:.3f}")
                    run.log_sums, run.log_count = [0.0, 0.0], 0
                final = run.step == cfg.steps
                if final or (cfg.eval_every and run.step % cfg.eval_every == 0):
                    metrics = monitor.evaluate(run, run.step, final)
                    log.write({"step": run.step, "metrics": metrics})
                saved = final or run.step % cfg.checkpoint_every == 0
                if saved:
                    run.save()
                if interrupted():  # a step boundary: the state is whole, keep it and stop
                    if not saved:
                        run.save()
                    raise KeyboardInterrupt
    finally:
        bar.close()
        log.close()
    return {
        "run_dir": str(run.dir),
        "model": cfg.model,
        "dataset": cfg.dataset,
        "steps": run.step,
        "final": last,
        "metrics": metrics,
        "wall_time_s": round(time.perf_counter() - started, 3),
        "train_time_total_s": round(run.elapsed, 3),
        "checkpoint": str(run.dir / ckpt.CHECKPOINT),
        "device": str(run.device),
        "hyperparameters": run.hp,
    }

