"""CycleGAN: Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks" (ICCV), scaled down for 28×28 grey digits.

Two generators G: A → B and F: B → A, two discriminators D_A, D_B. Objective (paper §3, §4,
§7 "Training details"), with λ = ``lambda_cycle`` = 10 and the identity weight 0.5 λ:

- least-squares adversarial losses (Mao et al. 2017):
  L_D(D, real, fake) = ½ [E (D(real) − 1)² + E D(fake)²]  (the paper divides D's objective by 2),
  L_G(D, fake) = E (D(fake) − 1)²;
- cycle consistency: λ (E ‖F(G(a)) − a‖₁ + E ‖G(F(b)) − b‖₁);
- identity (paper §5.2): 0.5 λ (E ‖G(b) − b‖₁ + E ‖F(a) − a‖₁);
- D sees generated images through a history of the last 50 (:class:`ImagePool`, Shrivastava
  et al. 2017): while it is not full, each new image is stored and shown; after, with
  probability ½ a stored image is shown and replaced by the new one, otherwise the new one;
- Adam lr 2e-4, β = (0.5, 0.999); lr constant for the first half of the steps, then linearly
  to 0 (the paper: 100 epochs constant, 100 decaying).

Nets (paper appendix 7.2, widths scaled by ``width`` w, the paper's w = 64, ours 8):
- G (ResNet): c7s1-w (reflection pad, 7×7 conv, instance norm, ReLU) → d2w → d4w (3×3 stride-2
  convs, 28 → 14 → 7) → ``n_res`` residual blocks of 4w (paper: 6 or 9; ours 3) → u2w → uw
  (3×3 stride-½ transposed convs) → c7s1-C → tanh.
- D (PatchGAN): C w (4×4 stride 2, LeakyReLU 0.2, no norm) → C 2w (stride 2, instance norm)
  → C 4w (stride 1, instance norm) → 4×4 conv to 1 output per patch (a 5×5 map on 28 px;
  the paper's 70×70 patches at 256 px).
Weights N(0, 0.02). Batch 16 (the paper's 1: on a CPU, larger batches are cheaper per image).
"""

import torch
import torch.nn.functional as F
from torch import nn

from gan_eval.errors import GanEvalError

from .layers import init_normal

PAPER = "Zhu et al. 2017, CycleGAN"
DATASETS = ("restyled-mnist", "usps")

DEFAULTS = {"batch_size": 16, "lr": 2e-4, "betas": [0.5, 0.999], "width": 8, "n_res": 3, "lambda_cycle": 10.0,
            "lambda_identity": 0.5, "pool_size": 50, "decay_start": 0.5, "schedule_steps": None}


def check_dataset(name):
    if name not in DATASETS:
        raise GanEvalError(f"cyclegan trains on a domain pair: {', '.join(DATASETS)}; got {name!r}")
    return name


def defaults(dataset):
    return dict(DEFAULTS)


# --- nets ---------------------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

    def forward(self, x):
        return x + self.body(x)


def resnet_generator(channels=1, width=8, n_res=3):
    """The ResNet generator for 28×28 images: (N, C, 28, 28) in [−1, 1] → the same shape."""
    w = width
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(channels, w, 7), nn.InstanceNorm2d(w), nn.ReLU(),
              nn.Conv2d(w, 2 * w, 3, 2, 1), nn.InstanceNorm2d(2 * w), nn.ReLU(),  # 28 → 14
              nn.Conv2d(2 * w, 4 * w, 3, 2, 1), nn.InstanceNorm2d(4 * w), nn.ReLU()]  # 14 → 7
    layers += [ResidualBlock(4 * w) for _ in range(n_res)]
    layers += [nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(2 * w), nn.ReLU(),
               nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(w), nn.ReLU(),
               nn.ReflectionPad2d(3), nn.Conv2d(w, channels, 7), nn.Tanh()]
    net = nn.Sequential(*layers)
    init_normal(net)
    return net


def patch_discriminator(channels=1, width=8):
    """PatchGAN: (N, C, 28, 28) → (N, 1, 5, 5) raw least-squares scores, one per overlapping patch."""
    w = width
    net = nn.Sequential(
        nn.Conv2d(channels, w, 4, 2, 1), nn.LeakyReLU(0.2),  # 14
        nn.Conv2d(w, 2 * w, 4, 2, 1), nn.InstanceNorm2d(2 * w), nn.LeakyReLU(0.2),  # 7
        nn.Conv2d(2 * w, 4 * w, 4, 1, 1), nn.InstanceNorm2d(4 * w), nn.LeakyReLU(0.2),  # 6
        nn.Conv2d(4 * w, 1, 4, 1, 1),  # 5
    )
    init_normal(net)
    return net


# --- losses -------------------------------------------------------------------------------------


def lsgan_d_loss(real_out, fake_out):
    """½ [mean (D(real) − 1)² + mean D(fake)²]."""
    return 0.5 * (((real_out - 1) ** 2).mean() + (fake_out ** 2).mean())


def lsgan_g_loss(fake_out):
    """mean (D(G(x)) − 1)²."""
    return ((fake_out - 1) ** 2).mean()


def cycle_loss(a, a_rec, b, b_rec, lam):
    """λ (mean |F(G(a)) − a| + mean |G(F(b)) − b|)."""
    return lam * (F.l1_loss(a_rec, a) + F.l1_loss(b_rec, b))


def identity_loss(a, f_a, b, g_b, lam, weight):
    """weight·λ (mean |G(b) − b| + mean |F(a) − a|)."""
    return weight * lam * (F.l1_loss(g_b, b) + F.l1_loss(f_a, a))


class ImagePool:
    """History of up to `size` generated images shown to D (Shrivastava et al. 2017; CycleGAN §4).

    :meth:`query` takes a batch and returns one of the same size: while the pool has room each
    image is stored and returned; after, each image is, with probability ½, swapped for a random
    stored one (which is returned and replaced), else returned as it is. Draws come from the
    seeded `generator`, so the pool is part of a run's reproducible state (:meth:`state_dict`).
    """

    def __init__(self, size, generator):
        self.size, self.generator, self.images = int(size), generator, []

    def query(self, batch):
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            image = image.clone()
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif float(torch.rand((), generator=self.generator)) < 0.5:
                i = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[i])
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self):
        return {"size": self.size, "images": torch.stack(self.images).cpu() if self.images else None}

    def load_state_dict(self, state, device):
        self.images = [] if state["images"] is None else [im.to(device) for im in state["images"]]


def linear_decay(step, steps, decay_start):
    """The lr factor: 1 for step < decay_start·steps, then linearly down to 0 at `steps`."""
    start = int(round(decay_start * steps))
    if step < start or steps <= start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / (steps - start))


# --- training -----------------------------------------------------------------------------------


class Trainer:
    """Nets, optimisers and one CycleGAN step; see :mod:`gan_eval_models.multinet` for the contract."""

    def __init__(self, cfg, hp, device, load_data=True):
        self.cfg, self.hp, self.device = cfg, hp, device
        w, r = hp["width"], hp["n_res"]
        self.nets = {"G_ab": resnet_generator(1, w, r).to(device), "G_ba": resnet_generator(1, w, r).to(device),
                     "D_a": patch_discriminator(1, w).to(device), "D_b": patch_discriminator(1, w).to(device)}
        betas = tuple(hp["betas"])
        self.optimizers = {
            "G": torch.optim.Adam(list(self.nets["G_ab"].parameters()) + list(self.nets["G_ba"].parameters()),
                                  lr=hp["lr"], betas=betas),
            "D": torch.optim.Adam(list(self.nets["D_a"].parameters()) + list(self.nets["D_b"].parameters()),
                                  lr=hp["lr"], betas=betas),
        }
        self.generators = {"data": torch.Generator().manual_seed(cfg.seed + 10_007),
                           "pool": torch.Generator().manual_seed(cfg.seed + 20_011)}
        self.pools = {"a": ImagePool(hp["pool_size"], self.generators["pool"]),
                      "b": ImagePool(hp["pool_size"], self.generators["pool"])}
        self.data = None
        if load_data:
            from ..datasets.domains import load_domains

            d = load_domains(cfg.dataset, cfg.data_dir, "train")
            self.data = {k: torch.from_numpy(d[k][0]).float().div(127.5).sub(1)[:, None] for k in ("a", "b")}

    def _batch(self, domain):
        x = self.data[domain]
        idx = torch.randint(len(x), (self.hp["batch_size"],), generator=self.generators["data"])
        return x[idx].to(self.device)

    def train_step(self, step):
        hp, n = self.hp, self.nets
        factor = linear_decay(step, hp["schedule_steps"], hp["decay_start"])
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = hp["lr"] * factor
        a, b = self._batch("a"), self._batch("b")
        lam = hp["lambda_cycle"]
        # generators (D frozen)
        for k in ("D_a", "D_b"):
            n[k].requires_grad_(False)
        fake_b, fake_a = n["G_ab"](a), n["G_ba"](b)
        adv = lsgan_g_loss(n["D_b"](fake_b)) + lsgan_g_loss(n["D_a"](fake_a))
        cyc = cycle_loss(a, n["G_ba"](fake_b), b, n["G_ab"](fake_a), lam)
        idt = identity_loss(a, n["G_ba"](a), b, n["G_ab"](b), lam, hp["lambda_identity"]) if hp["lambda_identity"] else torch.zeros(())
        g_loss = adv + cyc + idt
        self.optimizers["G"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["G"].step()
        for k in ("D_a", "D_b"):
            n[k].requires_grad_(True)
        # discriminators on the history of generated images
        pa, pb = self.pools["a"].query(fake_a), self.pools["b"].query(fake_b)
        d_a = lsgan_d_loss(n["D_a"](a), n["D_a"](pa))
        d_b = lsgan_d_loss(n["D_b"](b), n["D_b"](pb))
        self.optimizers["D"].zero_grad(set_to_none=True)
        (d_a + d_b).backward()
        self.optimizers["D"].step()
        return {k: float(v.detach()) for k, v in (("g_adv", adv), ("cycle", cyc), ("identity", idt), ("d_a", d_a), ("d_b", d_b))}

    def extra_state(self):
        return {k: p.state_dict() for k, p in self.pools.items()}

    def load_extra_state(self, state):
        for k, p in self.pools.items():
            p.load_state_dict(state[k], self.device)

    @torch.no_grad()
    def translate(self, images, direction="a2b", batch_size=500):
        """uint8 (N, 28, 28[, 1]) images of the source domain → uint8 (N, 28, 28) translations."""
        if direction not in ("a2b", "b2a"):
            raise GanEvalError(f"direction must be a2b or b2a, got {direction!r}")
        return self._apply(images, ["G_ab" if direction == "a2b" else "G_ba"], batch_size)

    @torch.no_grad()
    def reconstruct(self, images, direction="a2b", batch_size=500):
        """F(G(x)) for a2b (G(F(x)) for b2a): uint8 (N, 28, 28) reconstructions."""
        order = ["G_ab", "G_ba"] if direction == "a2b" else ["G_ba", "G_ab"]
        return self._apply(images, order, batch_size)

    def _apply(self, images, names, batch_size):
        import numpy as np

        x = np.asarray(images)
        if x.ndim == 4:
            x = x[..., 0]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise GanEvalError(f"cyclegan translates uint8 28×28 grey images, got {x.dtype} {x.shape}")
        for k in names:
            self.nets[k].eval()
        out = []
        for s in range(0, len(x), batch_size):
            t = torch.from_numpy(np.array(x[s:s + batch_size], dtype=np.float32)).div(127.5).sub(1)[:, None].to(self.device)
            for k in names:
                t = self.nets[k](t)
            out.append(((t[:, 0].cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
        return torch.cat(out).numpy()

    def save_picture(self, path):
        """Rows of input → translation → reconstruction, for 8 digits of each domain."""
        import numpy as np

        from ..monitor import save_grid

        if self.data is None:
            return
        rows = []
        for dom, direction in (("a", "a2b"), ("b", "b2a")):
            x = ((self.data[dom][:8, 0] + 1) * 127.5).round().to(torch.uint8).numpy()
            rows += [x, self.translate(x, direction), self.reconstruct(x, direction)]
        for k in self.nets:
            self.nets[k].train()
        save_grid(np.concatenate(rows)[..., None], path, nrow=8)
