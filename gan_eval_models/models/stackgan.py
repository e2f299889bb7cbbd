"""StackGAN: Zhang, Xu, Li, Zhang, Wang, Huang & Metaxas 2017, "StackGAN: Text to Photo-realistic
Image Synthesis with Stacked Generative Adversarial Networks" (ICCV), scaled down to
class-conditional MNIST: Stage-I draws 16×16 digits, Stage-II refines them to 32×32.

Condition: the class label's one-hot vector φ ∈ R^10 stands for the paper's text embedding φ_t
(each class is one "caption"). Conditioning Augmentation (paper §3.1): a linear layer maps φ to
(μ, log σ²) ∈ R^{2·c_dim} (initialised with each class's μ ~ N(0, I) and σ ≈ 0.14, see
``ConditioningAugmentation``); c = μ + σ ⊙ ε with ε ~ N(0, I), and G's loss adds
λ_KL · KL(N(μ, diag σ²) ‖ N(0, I)) / c_dim, KL = ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²), averaged
over the batch (λ_KL = 1 as in the paper's §4; the division by c_dim is how the authors' code
averages the KL over the elements). Each stage has its own CA.

- Stage-I G: [c, z] (z ∈ R^``latent_dim`` ~ N(0, I)) → linear → 4×4×4w → 2 × [nearest ×2
  upsampling, 3×3 conv, batch norm, ReLU] → 16×16×w → 3×3 conv → tanh.
- Stage-II G: Stage-I image → 3×3 conv (w) → 3×3 stride-2 conv (2w, 8×8) → concatenated with
  c replicated 8×8 → 3×3 conv (2w) → ``n_res`` residual blocks → 2 × upsampling blocks
  (16×16×w, 32×32×w/2) → 3×3 conv → r; the output is tanh(atanh(0.99·up(x₁₆)) + r), with
  up(x₁₆) the Stage-I image upsampled bilinearly. This global skip is ours, not the paper's:
  Stage-II starts as an upsampler and learns corrections. Without it, our short CPU runs
  (a few hundred Stage-II steps) collapsed Stage-II to one output that ignored its input.
- D (both stages): 4×4 stride-2 convs (LeakyReLU 0.2, batch norm after the first) down to 4×4×4w;
  φ compressed by a linear layer (PyTorch's default init, not N(0, 0.02)) to ``d_cond`` = 8 and
  replicated 4×4 (paper: N_d = 128) is concatenated; 3×3 conv, batch norm, LeakyReLU, then a 4×4 conv to one logit.
- Matching-aware discriminator (Reed et al. 2016, GAN-CLS, as in StackGAN's code): D's loss is
  BCE(D(x, φ), 1) + ½ [BCE(D(x, φ_wrong), 0) + BCE(D(G(z, c), φ), 0)], where φ_wrong is another
  class (label + U{1..9} mod 10); G minimises BCE(D(G(z, c), φ), 1) + λ_KL KL (non-saturating).
- Training: the first ``stage1_fraction`` (½) of the steps train Stage-I; the rest train Stage-II
  with Stage-I frozen, as in the paper. Adam 2e-4, β (0.5, 0.999) (the paper halves the lr
  every 100 epochs; we keep it constant). Batch 64. Real images: MNIST train[0:50000] resized
  (bilinear, antialiased) to 16 px for Stage-I and to 32 px for Stage-II.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_eval.errors import GanEvalError

from .layers import init_normal

PAPER = "Zhang et al. 2017, StackGAN"
DATASETS = ("mnist",)
N_CLASSES = 10

DEFAULTS = {"batch_size": 64, "lr": 2e-4, "betas": [0.5, 0.999], "width": 16, "latent_dim": 32, "c_dim": 8,
            "d_cond": 8, "n_res": 2, "lambda_kl": 1.0, "stage1_fraction": 0.5, "schedule_steps": None}


def check_dataset(name):
    if name not in DATASETS:
        raise GanEvalError(f"stackgan trains on mnist (class labels as the condition), got {name!r}")
    return name


def defaults(dataset):
    return dict(DEFAULTS)


# --- conditioning augmentation ------------------------------------------------------------------


def kl_to_standard_normal(mu, logvar):
    """Mean over the batch of KL(N(μ, diag exp(logvar)) ‖ N(0, I)) = ½ Σ_j (σ² + μ² − 1 − log σ²)."""
    return 0.5 * (logvar.exp() + mu ** 2 - 1.0 - logvar).sum(1).mean()


class ConditioningAugmentation(nn.Module):
    """φ (N, 10) → (c, μ, log σ²), c = μ + σ ε with ε from `generator` (a seeded CPU generator) or
    torch's global one; ``sample=False`` returns c = μ (deterministic)."""

    def __init__(self, embed_dim, c_dim):
        super().__init__()
        self.fc = nn.Linear(embed_dim, 2 * c_dim)
        self.c_dim = c_dim
        self.reset_parameters()

    def reset_parameters(self):
        """μ(φ) of each class drawn from N(0, I) (the prior's scale, so the class moves G's input
        [c, z] as much as z does), σ starting at e^−2 ≈ 0.14 (log σ² bias −4): the class is
        readable in c from the first step. (With PyTorch's default linear init the class means lie
        ~0.7 apart against |z| ≈ 5.7, and G took thousands of steps to start using c.)"""
        self.fc.reset_parameters()
        with torch.no_grad():
            self.fc.weight[:self.c_dim].normal_(0.0, 1.0)
            self.fc.bias[:self.c_dim].zero_()
            self.fc.bias[self.c_dim:].fill_(-4.0)

    def forward(self, phi, generator=None, sample=True):
        h = self.fc(phi)
        mu, logvar = h[:, :self.c_dim], h[:, self.c_dim:]
        if not sample:
            return mu, mu, logvar
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        return mu + (0.5 * logvar).exp() * eps, mu, logvar


# --- nets ---------------------------------------------------------------------------------------


def _up(c_in, c_out):
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU()]


class _Res(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return F.relu(x + self.body(x))


class StageIGenerator(nn.Module):
    def __init__(self, latent_dim, c_dim, width):
        super().__init__()
        w = width
        self.ca = ConditioningAugmentation(N_CLASSES, c_dim)
        self.fc = nn.Sequential(nn.Linear(latent_dim + c_dim, 4 * w * 16, bias=False), nn.BatchNorm1d(4 * w * 16), nn.ReLU())
        self.body = nn.Sequential(*_up(4 * w, 2 * w), *_up(2 * w, w), nn.Conv2d(w, 1, 3, 1, 1), nn.Tanh())
        self.w = w

    def forward(self, z, phi, generator=None, sample=True):
        """(images (N, 1, 16, 16) in [−1, 1], μ, log σ²)."""
        c, mu, logvar = self.ca(phi, generator, sample)
        h = self.fc(torch.cat([c, z], 1)).view(-1, 4 * self.w, 4, 4)
        return self.body(h), mu, logvar


class StageIIGenerator(nn.Module):
    def __init__(self, c_dim, width, n_res):
        super().__init__()
        w = width
        self.ca = ConditioningAugmentation(N_CLASSES, c_dim)
        self.encode = nn.Sequential(nn.Conv2d(1, w, 3, 1, 1), nn.ReLU(),
                                    nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU())  # 8×8
        self.joint = nn.Sequential(nn.Conv2d(2 * w + c_dim, 2 * w, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
                                   *[_Res(2 * w) for _ in range(n_res)])
        self.decode = nn.Sequential(*_up(2 * w, w), *_up(w, max(w // 2, 1)), nn.Conv2d(max(w // 2, 1), 1, 3, 1, 1))

    def forward(self, low, phi, generator=None, sample=True):
        """(images (N, 1, 32, 32), μ, log σ²) from Stage-I images `low` (N, 1, 16, 16)."""
        c, mu, logvar = self.ca(phi, generator, sample)
        h = self.encode(low)
        h = torch.cat([h, c[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])], 1)
        # global skip: the net refines the upsampled Stage-I image (in tanh's pre-activation space)
        base = torch.atanh(0.99 * F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False))
        return torch.tanh(base + self.decode(self.joint(h))), mu, logvar


class ConditionalDiscriminator(nn.Module):
    """(image (N, 1, S, S), φ (N, 10)) → logit (N,), for S = 16 or 32."""

    def __init__(self, size, width, d_cond):
        super().__init__()
        w, layers, c_in, s = width, [], 1, size
        widths = [w, 2 * w, 4 * w] if size == 32 else [2 * w, 4 * w]
        for i, c_out in enumerate(widths):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i == 0)]
            if i:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in, s = c_out, s // 2
        if s != 4:
            raise GanEvalError(f"discriminator input side must be 16 or 32, got {size}")
        self.body = nn.Sequential(*layers)
        self.cond = nn.Linear(N_CLASSES, d_cond)
        self.head = nn.Sequential(nn.Conv2d(c_in + d_cond, c_in, 3, 1, 1, bias=False), nn.BatchNorm2d(c_in),
                                  nn.LeakyReLU(0.2), nn.Conv2d(c_in, 1, 4))

    def reset_parameters(self):
        """PyTorch's default init for the condition's linear layer: compressed φ of magnitude ~0.3,
        comparable with the image features it joins. (The N(0, 0.02) init of the other layers
        left it ~50× smaller, and D learnt to reject wrong-class pairs only slowly.)"""
        self.cond.reset_parameters()

    def forward(self, x, phi):
        h = self.body(x)
        c = F.leaky_relu(self.cond(phi), 0.2)[:, :, None, None].expand(-1, -1, 4, 4)
        return self.head(torch.cat([h, c], 1)).view(-1)


def one_hot(y):
    return F.one_hot(y, N_CLASSES).float()


def wrong_labels(y, generator):
    """A different class for every label: (y + U{1..9}) mod 10."""
    return (y + torch.randint(1, N_CLASSES, y.shape, generator=generator).to(y.device)) % N_CLASSES


def matching_aware_d_loss(real_right, real_wrong, fake_right):
    """BCE(real, right φ → 1) + ½ [BCE(real, wrong φ → 0) + BCE(fake, right φ → 0)] from logits."""
    return F.softplus(-real_right).mean() + 0.5 * (F.softplus(real_wrong).mean() + F.softplus(fake_right).mean())


def generator_adv_loss(fake_right):
    """Non-saturating BCE(fake, right φ → 1) from logits."""
    return F.softplus(-fake_right).mean()


def resize_images(x, size):
    """Float images (N, 1, H, W) → (N, 1, size, size), bilinear with antialiasing."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


# --- training -----------------------------------------------------------------------------------


class Trainer:
    """Nets, optimisers and one StackGAN step; see :mod:`gan_eval_models.multinet` for the contract."""

    def __init__(self, cfg, hp, device, load_data=True):
        self.cfg, self.hp, self.device = cfg, hp, device
        w = hp["width"]
        self.nets = {"G1": StageIGenerator(hp["latent_dim"], hp["c_dim"], w).to(device),
                     "D1": ConditionalDiscriminator(16, w, hp["d_cond"]).to(device),
                     "G2": StageIIGenerator(hp["c_dim"], w, hp["n_res"]).to(device),
                     "D2": ConditionalDiscriminator(32, w, hp["d_cond"]).to(device)}
        for net in self.nets.values():
            init_normal(net)
        for g in ("G1", "G2"):  # the condition's layers keep their own init (see their reset_parameters)
            self.nets[g].ca.reset_parameters()
        for d in ("D1", "D2"):
            self.nets[d].reset_parameters()
        betas = tuple(hp["betas"])
        self.optimizers = {k: torch.optim.Adam(n.parameters(), lr=hp["lr"], betas=betas) for k, n in self.nets.items()}
        self.generators = {"data": torch.Generator().manual_seed(cfg.seed + 10_007),
                           "noise": torch.Generator().manual_seed(cfg.seed + 30_011)}
        self.stage1_steps = int(round(hp["stage1_fraction"] * hp["schedule_steps"]))
        self.data = None
        if load_data:
            from ..datasets.mnist import load_mnist

            images, labels = load_mnist(cfg.data_dir, "train")
            x = torch.from_numpy(np.array(images[:50_000])).float().div(127.5).sub(1)[:, None]
            self.data = {"x16": resize_images(x, 16), "x32": resize_images(x, 32),
                         "y": torch.from_numpy(np.array(labels[:50_000]))}

    def _batch(self, key):
        idx = torch.randint(len(self.data["y"]), (self.hp["batch_size"],), generator=self.generators["data"])
        return self.data[key][idx].to(self.device), self.data["y"][idx].to(self.device)

    def _z(self, n):
        return torch.randn(n, self.hp["latent_dim"], generator=self.generators["noise"]).to(self.device)

    def train_step(self, step):
        stage = 1 if step < self.stage1_steps else 2
        G, D = self.nets[f"G{stage}"], self.nets[f"D{stage}"]
        x, y = self._batch("x16" if stage == 1 else "x32")
        phi = one_hot(y)
        n = len(y)
        gen = self.generators["noise"]
        if stage == 1:
            fake, mu, logvar = G(self._z(n), phi, gen)
        else:
            G1 = self.nets["G1"].eval()  # frozen, batch-norm running statistics
            with torch.no_grad():
                low, _, _ = G1(self._z(n), phi, gen)
            fake, mu, logvar = G(low, phi, gen)
        phi_wrong = one_hot(wrong_labels(y, gen))
        d_loss = matching_aware_d_loss(D(x, phi), D(x, phi_wrong), D(fake.detach(), phi))
        self.optimizers[f"D{stage}"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers[f"D{stage}"].step()
        D.requires_grad_(False)
        try:
            adv = generator_adv_loss(D(fake, phi))
            kl = kl_to_standard_normal(mu, logvar) / mu.shape[1]  # per dimension, as the authors' code averages it
            g_loss = adv + self.hp["lambda_kl"] * kl
            self.optimizers[f"G{stage}"].zero_grad(set_to_none=True)
            g_loss.backward()
        finally:
            D.requires_grad_(True)
        self.optimizers[f"G{stage}"].step()
        return {"stage": float(stage), "d_loss": float(d_loss.detach()), "g_adv": float(adv.detach()),
                "kl": float(kl.detach())}

    def extra_state(self):
        return {}

    def load_extra_state(self, state):
        pass

    @torch.no_grad()
    def generate(self, labels, seed=0, batch_size=500):
        """(Stage-I uint8 (N, 16, 16), Stage-II uint8 (N, 32, 32)) for int labels, latents and CA noise
        from a CPU generator seeded with `seed` (eval mode: batch-norm running statistics)."""
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if y.ndim != 1 or (len(y) and (y.min() < 0 or y.max() >= N_CLASSES)):
            raise GanEvalError(f"labels must be integers in 0..{N_CLASSES - 1}")
        gen = torch.Generator().manual_seed(int(seed))
        G1, G2 = self.nets["G1"].eval(), self.nets["G2"].eval()
        lows, highs = [], []
        for s in range(0, len(y), batch_size):
            yb = y[s:s + batch_size]
            phi = one_hot(yb).to(self.device)
            z = torch.randn(len(yb), self.hp["latent_dim"], generator=gen).to(self.device)
            low, _, _ = G1(z, phi, gen)
            high, _, _ = G2(low, phi, gen)
            lows.append(low.cpu())
            highs.append(high.cpu())
        u8 = lambda t: ((torch.cat(t)[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        return u8(lows), u8(highs)

    def save_picture(self, path):
        """Stage-I (upsampled) and Stage-II samples, one row per class pair."""
        from ..monitor import save_grid

        labels = np.repeat(np.arange(N_CLASSES), 4)
        low, high = self.generate(labels, seed=0)
        for k in self.nets:
            self.nets[k].train()
        low32 = resize_images(torch.from_numpy(low).float()[:, None], 32)[:, 0].round().clamp(0, 255).byte().numpy()
        rows = np.concatenate([np.concatenate([low32[i:i + 4], high[i:i + 4]]) for i in range(0, len(labels), 4)])
        save_grid(rows[..., None], path, nrow=8)
