"""Train the N seeds of a table row as one batched model: PacGAN's 2-D MLP GAN on ring/grid.

The nets of :func:`gan_eval_models.models.gan2014.mlp_points_nets` are built once per seed
(the same initialisation as :func:`gan_eval_models.train.train` with that seed), their weights
stacked along a leading seed axis, and every layer runs as one batched matmul over the seeds
(``torch.bmm``; batch norm and maxout per seed). One Adam over the stacked tensors is N Adams
(Adam is elementwise) and the summed loss gives each seed its own gradient, so N seeds cost
about one step of framework overhead instead of N.

Protocols (``protocol``):

- ``"trainer"``: what ``train()`` does for gan2014 on 2-D data: fresh mixture draws per batch,
  G run once over the whole packed batch, ``update`` alternating (default) or simultaneous.
  Each seed draws its data and latents from its own generators in ``train()``'s order, so a
  seed's run equals its separate run up to float rounding (batched vs single matmuls and our
  batch norm vs torch's kernel: ~1e-7 per step, tested over a few steps; training amplifies it
  like any rounding change).
- ``"paper"``: PacGAN's ``synthetic_data_experiments`` (Lin et al. 2018, code
  fjxmlzn/PacGAN): a fixed training set of 100,000 m-tuples drawn once (each packing slot its
  own points), shuffled per epoch (1,000 batches of 100), G run per packing slot (batch-norm
  statistics over 100 samples, population statistics averaged over slots), simultaneous D/G
  updates from one minibatch, 400 epochs = 400,000 updates.

Runs go to ``out``: ``group.pt`` (everything needed to resume bit-exactly: stacked weights,
Adam states, every seed's generators and data order, step), ``log.jsonl`` (losses per seed
every ``log_every`` steps, mode metrics per seed every ``eval_every`` steps: the convergence
curve), and ``s<seed>/`` folders holding the latest generator of each seed in the trainer's
run format, so :func:`gan_eval_models.sample.sample` reads them. ``train_seeds(...,
resume=True)`` continues a group, so a long run is built in chunks (``steps`` is the target).
"""

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_eval.errors import GanEvalError

from . import checkpoint as ckpt
from .datasets import get_dataset
from .models import build_models
from .models import losses as L
from .models.layers import Maxout
from .train import TrainConfig, run_identity

PROTOCOLS = ("trainer", "paper")
PAPER_TRAIN_SET = 100_000  # PacGAN config.py num_sample
PAPER_STEPS = 400_000  # 400 epochs x 1,000 batches of 100
GROUP = "group.pt"
LOG = "log.jsonl"
EVAL_SAMPLES = 2500  # PacGAN/VEEGAN score 2,500 samples


def _stack(states):
    return {k: torch.stack([s[k] for s in states]) for k in states[0]}


class SeedBatch:
    """N seeds of one gan2014 2-D configuration as stacked tensors (see the module docstring)."""

    def __init__(self, dataset, seeds, pack=1, loss="non-saturating", update="alternating", protocol="trainer",
                 dataset_params=None, batch_size=100, lr=1e-4, betas=(0.8, 0.999)):
        if protocol not in PROTOCOLS:
            raise GanEvalError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
        if not seeds or len(set(seeds)) != len(seeds):
            raise GanEvalError(f"seeds must be distinct and at least one, got {seeds!r}")
        L.check_loss(loss)
        if loss == "least-squares":
            raise GanEvalError("the seed-batched trainer has the sigmoid losses (minimax, non-saturating)")
        self.seeds, self.pack, self.loss, self.batch_size = list(seeds), pack, loss, batch_size
        self.update = "simultaneous" if protocol == "paper" else update
        self.protocol, self.dataset, self.dataset_params = protocol, dataset, dict(dataset_params or {})
        self.config = TrainConfig(model="gan2014", dataset=dataset, steps=0, out="", pack=pack, loss=loss,
                                  update=self.update, batch_size=batch_size, lr=lr,
                                  dataset_params=self.dataset_params).validate()
        self.hp = self.config.resolved()
        if self.config.spec()["kind"] != "points":
            raise GanEvalError(f"the seed-batched trainer trains on 2-D mixtures (ring, grid), not {dataset}")
        self.mixture = get_dataset(dataset, **self.dataset_params)
        g_states, d_states = [], []
        for seed in self.seeds:  # each seed's nets exactly as train() initialises them
            with ckpt.rng_scope(seed, torch.device("cpu")):
                G, D = build_models("gan2014", self.config.spec(), self.hp["latent_dim"], self.hp["latent"],
                                    self.hp["width"], pack)
            g_states.append(G.state_dict())
            d_states.append(D.state_dict())
        self.G_template, self.D_template = G, D
        self.g_modules = list(G.net)
        self.d_modules = list(D.body) + [D.head]
        self.g = _stack(g_states)
        self.d = _stack(d_states)
        self.g_params = {k: v.requires_grad_() for k, v in self.g.items() if _is_param(G, k)}
        self.d_params = {k: v.requires_grad_() for k, v in self.d.items() if _is_param(D, k)}
        self.opt_g = torch.optim.Adam(list(self.g_params.values()), lr=lr, betas=tuple(betas))
        self.opt_d = torch.optim.Adam(list(self.d_params.values()), lr=lr, betas=tuple(betas))
        self.noise = [torch.Generator().manual_seed(s) for s in self.seeds]
        self.data = [torch.Generator().manual_seed(s + 10_007) for s in self.seeds]
        self.train_set = self.perm = None
        self.pos = 0
        if protocol == "paper":
            self.train_set = torch.stack([
                self.mixture.sample(PAPER_TRAIN_SET * pack, g).view(PAPER_TRAIN_SET, pack, 2) for g in self.data])
        self.step, self.elapsed = 0, 0.0

    @property
    def n(self):
        return len(self.seeds)

    # --- batched layers -----------------------------------------------------------------------

    def _generator(self, z, params, train=True):
        """(S, B, 2) latents → (S, B, 2) points; S stacks seeds (or seeds × packing slots)."""
        h, reps = z, z.shape[0] // self.n
        for i, m in enumerate(self.g_modules):
            key = f"net.{i}."
            if isinstance(m, nn.Linear):
                w = params[key + "weight"].repeat_interleave(reps, 0)
                h = torch.bmm(h, w.transpose(1, 2))
                if m.bias is not None:
                    h = h + params[key + "bias"].repeat_interleave(reps, 0)[:, None]
            elif isinstance(m, nn.BatchNorm1d):
                h = self._batch_norm(h, key, m, params, reps, train)
            elif isinstance(m, nn.ReLU):
                h = F.relu(h)
            else:
                raise GanEvalError(f"seed-batched G: unsupported layer {type(m).__name__}")
        return h

    def _batch_norm(self, h, key, m, params, reps, train):
        w, b = (params[key + n].repeat_interleave(reps, 0)[:, None] for n in ("weight", "bias"))
        rm, rv = self.g[key + "running_mean"], self.g[key + "running_var"]
        if not train:
            return (h - rm.repeat_interleave(reps, 0)[:, None]) / torch.sqrt(rv.repeat_interleave(reps, 0)[:, None] + m.eps) * w + b
        mean, var = h.mean(1), h.var(1, unbiased=False)
        with torch.no_grad():  # population statistics, averaged over packing slots
            k = h.shape[1]
            unbiased = var.detach() * (k / (k - 1))
            rm.mul_(1 - m.momentum).add_(mean.detach().view(self.n, reps, -1).mean(1), alpha=m.momentum)
            rv.mul_(1 - m.momentum).add_(unbiased.view(self.n, reps, -1).mean(1), alpha=m.momentum)
            self.g[key + "num_batches_tracked"].add_(1)
        return (h - mean[:, None]) / torch.sqrt(var[:, None] + m.eps) * w + b

    def _discriminator(self, x, params):
        """(N, B·m, 2) points → (N, B) logits, packing m consecutive points per row."""
        h = x.reshape(self.n, x.shape[1] // self.pack, 2 * self.pack)
        for i, m in enumerate(self.d_modules):
            key = f"body.{i}.linear." if isinstance(m, Maxout) else "head."
            h = torch.baddbmm(params[key + "bias"][:, None], h, params[key + "weight"].transpose(1, 2))
            if isinstance(m, Maxout):
                h = h.view(*h.shape[:2], m.out_features, m.pieces).amax(-1)
        return h.squeeze(-1)

    # --- data ---------------------------------------------------------------------------------

    def _real(self, n):
        if self.train_set is None:  # train()'s MixtureBatches: fresh draws from each seed's data generator
            return torch.stack([self.mixture.sample_with_labels(n, g)[0] for g in self.data])
        tuples = n // self.pack
        if self.perm is None or self.pos + tuples > PAPER_TRAIN_SET:
            self.perm = torch.stack([torch.randperm(PAPER_TRAIN_SET, generator=g) for g in self.data])
            self.pos = 0
        idx = self.perm[:, self.pos:self.pos + tuples]
        self.pos += tuples
        batch = torch.gather(self.train_set, 1, idx[:, :, None, None].expand(-1, -1, self.pack, 2))
        return batch.reshape(self.n, tuples * self.pack, 2)

    def _latent(self, n):
        return torch.stack([torch.randn(n, 2, generator=g) for g in self.noise])

    def _fake(self, z, params=None):
        params = params if params is not None else self.g
        if self.protocol != "paper" or self.pack == 1:
            return self._generator(z, params)
        # one G pass per packing slot: slot j makes element j of every tuple
        tuples = z.shape[1] // self.pack
        slots = z.view(self.n, tuples, self.pack, 2).transpose(1, 2).reshape(self.n * self.pack, tuples, 2)
        out = self._generator(slots, params)
        return out.view(self.n, self.pack, tuples, 2).transpose(1, 2).reshape(self.n, tuples * self.pack, 2)

    # --- steps --------------------------------------------------------------------------------

    def _d_loss(self, real, fake):  # per seed, as models.losses.discriminator_loss
        return 0.5 * (F.softplus(-real).mean(1) + F.softplus(fake).mean(1))

    def _g_loss(self, fake):
        return -F.softplus(fake).mean(1) if self.loss == "minimax" else F.softplus(-fake).mean(1)

    def train_step(self):
        """One step for every seed; returns per-seed (d_loss, g_loss) as float64 arrays."""
        n = self.batch_size * self.pack
        if self.update == "simultaneous":
            x = self._real(n)
            out_fake = self._discriminator(self._fake(self._latent(n)), self.d)
            d_loss = self._d_loss(self._discriminator(x, self.d), out_fake)
            g_loss = self._g_loss(out_fake)
            d_grads = torch.autograd.grad(d_loss.sum(), list(self.d_params.values()), retain_graph=True)
            g_grads = torch.autograd.grad(g_loss.sum(), list(self.g_params.values()))
            for p, grad in zip(list(self.d_params.values()) + list(self.g_params.values()), d_grads + g_grads):
                p.grad = grad
            self.opt_d.step()
            self.opt_g.step()
        else:
            x = self._real(n)
            z = self._latent(n)
            with torch.no_grad():
                fake = self._fake(z)
            d_loss = self._d_loss(self._discriminator(x, self.d), self._discriminator(fake, self.d))
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.sum().backward()
            self.opt_d.step()
            frozen = {k: v.detach() for k, v in self.d.items()}
            g_loss = self._g_loss(self._discriminator(self._fake(self._latent(n)), frozen))
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.sum().backward()
            self.opt_g.step()
        self.step += 1
        d, g = d_loss.detach().double().numpy(), g_loss.detach().double().numpy()
        if not (np.isfinite(d).all() and np.isfinite(g).all()):
            raise GanEvalError(f"training diverged at step {self.step}: d_loss={d}, g_loss={g}")
        return d, g

    # --- sampling, metrics, state ------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n):
        """(N, n, 2) float64 samples per seed, G in inference mode (population batch-norm statistics);
        seed s draws its latents from ``torch.Generator().manual_seed(s + 1)`` as the trainer's monitor does."""
        z = torch.stack([torch.randn(n, 2, generator=torch.Generator().manual_seed(s + 1)) for s in self.seeds])
        return self._generator(z, self.g, train=False).double()

    def evaluate(self, n=EVAL_SAMPLES):
        """Per seed: modes captured, high-quality fraction and reverse KL of n samples (3σ rule)."""
        out = []
        for pts in self.sample(n).numpy():
            r = self.mixture.mode_counts(pts)
            out.append({k: r[k] for k in ("modes_captured", "high_quality_fraction", "reverse_kl")})
            out[-1]["histogram"] = np.asarray(r["histogram"]).tolist()
        return out

    def seed_state(self, i, net="generator"):
        """Seed i's weights as a plain state_dict of G (or D)."""
        stacked = self.g if net == "generator" else self.d
        return {k: v[i].detach().clone() for k, v in stacked.items()}

    def state_dict(self):
        return {
            "format": ckpt.FORMAT, "step": self.step, "seeds": self.seeds, "settings": self.settings(),
            "g": {k: v.detach() for k, v in self.g.items()}, "d": {k: v.detach() for k, v in self.d.items()},
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "noise": [g.get_state() for g in self.noise], "data": [g.get_state() for g in self.data],
            "perm": self.perm, "pos": self.pos, "elapsed_s": self.elapsed,
        }

    def load_state_dict(self, state):
        with torch.no_grad():
            for mine, saved in ((self.g, state["g"]), (self.d, state["d"])):
                for k, v in saved.items():
                    mine[k].copy_(v)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        for g, s in zip(self.noise, state["noise"]):
            g.set_state(s)
        for g, s in zip(self.data, state["data"]):
            g.set_state(s)
        self.perm, self.pos, self.step = state["perm"], int(state["pos"]), int(state["step"])
        self.elapsed = float(state.get("elapsed_s", 0.0))

    def settings(self):
        return {"dataset": self.dataset, "dataset_params": self.dataset_params, "pack": self.pack, "loss": self.loss,
                "update": self.update, "protocol": self.protocol, "batch_size": self.batch_size,
                "lr": self.hp["lr"], "betas": list(self.hp["betas"])}


def _is_param(module, key):
    return key in dict(module.named_parameters())


def export_runs(batch, out):
    """Write s<seed>/config.json and checkpoint.pt (the latest G) for each seed, in the trainer's format."""
    for i, seed in enumerate(batch.seeds):
        run = Path(out) / f"s{seed}"
        run.mkdir(parents=True, exist_ok=True)
        cfg = TrainConfig(**{**asdict(batch.config), "seed": seed, "steps": batch.step, "out": str(run)})
        ckpt.write_json(run / ckpt.CONFIG, {"config": asdict(cfg), "resolved": batch.hp,
                                            "seed_batch": {"group": str(Path(out) / GROUP), **batch.settings()}})
        ckpt.save_checkpoint(run / ckpt.CHECKPOINT, {"format": ckpt.FORMAT, "step": batch.step, "config": asdict(cfg),
                                                     "generator": batch.seed_state(i), "generator_ema": None,
                                                     "discriminator": batch.seed_state(i, "discriminator")},
                             run_identity(cfg, batch.hp))  # what `gan-eval sample` checks


def _group_identity(batch):
    """A group checkpoint's identity: the seeds and the settings they are trained with."""
    text = json.dumps({"seeds": batch.seeds, "settings": batch.settings()}, sort_keys=True, default=str)
    return {"model": "seed-batch", "dataset": batch.config.dataset,
            "config_sha256": hashlib.sha256(text.encode()).hexdigest()}


def train_seeds(out, seeds, steps, dataset="ring", pack=1, loss="non-saturating", update="alternating",
                protocol="trainer", eval_every=0, log_every=100, checkpoint_every=1000, resume=False, deadline=None,
                quiet=True, **kwargs):
    """Train `seeds` as one batch to `steps` steps in folder `out`; see the module docstring.

    resume: continue the group in `out` (its settings must match); `steps` is the total to reach,
    so a long run is trained in chunks of rising `steps`. deadline: a ``time.time()`` value after
    which no further step starts (the group is saved and the call returns). Returns a summary dict
    with the step reached, per-seed metrics of the last evaluation and the training seconds.
    """
    out = Path(out)
    batch = SeedBatch(dataset, seeds, pack, loss, update, protocol, **kwargs)
    path = out / GROUP
    if resume and path.is_file():
        state = ckpt.load_checkpoint(path)
        if state["seeds"] != batch.seeds or state["settings"] != batch.settings():
            raise GanEvalError(f"{out}: cannot resume, the group was trained with other settings: "
                               f"{state['seeds']} {state['settings']}")
        batch.load_state_dict(state)
        _truncate(out / LOG, batch.step)
    elif path.is_file() and not resume:
        raise GanEvalError(f"{out} already holds a seed group; pass resume=True to continue it")
    out.mkdir(parents=True, exist_ok=True)
    started, metrics, base = time.perf_counter(), None, batch.elapsed
    sums = np.zeros((2, batch.n))
    count = 0
    with open(out / LOG, "a") as log:
        def write(row):
            log.write(json.dumps(row, sort_keys=True) + "\n")
            log.flush()

        if batch.step == 0 and eval_every and not read_curve(out):
            metrics = batch.evaluate()
            write({"step": 0, "metrics": metrics})
        while batch.step < steps and not (deadline is not None and time.time() > deadline):
            d, g = batch.train_step()
            batch.elapsed = base + time.perf_counter() - started
            sums += (d, g)
            count += 1
            if batch.step % log_every == 0:
                write({"step": batch.step, "d_loss": (sums[0] / count).tolist(), "g_loss": (sums[1] / count).tolist()})
                sums[:], count = 0, 0
            if (eval_every and batch.step % eval_every == 0) or batch.step == steps:
                metrics = batch.evaluate()
                write({"step": batch.step, "metrics": metrics})
            if batch.step % checkpoint_every == 0 or batch.step == steps:
                ckpt.save_checkpoint(path, batch.state_dict(), _group_identity(batch))
                export_runs(batch, out)
        if batch.step % checkpoint_every and batch.step < steps or not path.is_file():  # stopped by the deadline
            ckpt.save_checkpoint(path, batch.state_dict(), _group_identity(batch))
            export_runs(batch, out)
    if metrics is None and read_curve(out):  # a finished group: its last evaluation
        metrics = read_curve(out)[-1][1]
    return {"out": str(out), "seeds": batch.seeds, "steps": batch.step, "target_steps": steps,
            "metrics": metrics, "seconds": round(time.perf_counter() - started, 2),
            "train_time_total_s": round(batch.elapsed, 2), "settings": batch.settings()}


def _truncate(path, step):
    if path.exists():
        keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        ckpt.atomic_write_bytes(path, lambda f: f.write("".join(k + "\n" for k in keep).encode()))


def read_curve(out):
    """[(step, [per-seed metrics])] from a group's log.jsonl, oldest first."""
    path = Path(out) / LOG
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []
    return [(r["step"], r["metrics"]) for r in rows if "metrics" in r]
