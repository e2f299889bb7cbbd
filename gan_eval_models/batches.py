"""Minibatch sources for the trainer, with state that a checkpoint can save and restore.

Every random choice (epoch permutations, mixture draws) comes from one ``torch.Generator``
owned by the trainer, so restoring that generator's state and :meth:`state_dict` continues the
exact same sequence of batches.
"""

import torch


class TensorBatches:
    """Shuffled minibatches without replacement from in-memory tensors; a new permutation each epoch.

    `data` is uint8 images (N, C, H, W) scaled on the way out to `output_range`, or float
    points used as they are. A batch never straddles two epochs: the rest of an epoch too
    short for the batch is skipped.
    """

    def __init__(self, data, labels, generator, output_range=None, device="cpu"):
        if len(data) < 1:
            raise ValueError("no data to draw batches from")
        self.data, self.labels = data, labels
        self.generator, self.output_range, self.device = generator, output_range, torch.device(device)
        self.perm, self.pos, self.epoch = None, 0, 0

    def __len__(self):
        return len(self.data)

    def _scale(self, x):
        if x.dtype != torch.uint8:
            return x.float()
        lo, hi = self.output_range
        return x.float() * ((hi - lo) / 255.0) + lo

    def next(self, n):
        if n > len(self.data):
            n_full, rest = divmod(n, len(self.data))  # tiny labelled sets: repeat whole epochs
            parts = [self.next(len(self.data)) for _ in range(n_full)] + ([self.next(rest)] if rest else [])
            return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        if self.perm is None or self.pos + n > len(self.data):
            self.perm = torch.randperm(len(self.data), generator=self.generator)
            self.pos = 0
            self.epoch += 1
        idx = self.perm[self.pos : self.pos + n]
        self.pos += n
        return self._scale(self.data[idx]).to(self.device), self.labels[idx].to(self.device)

    def fork(self, generator):
        """Shuffled batches of the same data from another generator (this source's state untouched)."""
        return TensorBatches(self.data, self.labels, generator, self.output_range, self.device)

    def state_dict(self):
        return {"perm": self.perm, "pos": self.pos, "epoch": self.epoch}

    def load_state_dict(self, state):
        self.perm, self.pos, self.epoch = state["perm"], int(state["pos"]), int(state["epoch"])


class FixedTupleBatches(TensorBatches):
    """PacGAN's Stacked MNIST training set in VEEGAN's setting (``VEEGAN_experiment/model.py``,
    ``load_mnist``): `n_tuples` m-tuples of samples drawn uniformly with replacement from `data`
    once (from `generator`, at construction), then served as consecutive batches in the same
    order every epoch (no reshuffling). ``next(n)`` takes n = batch · m samples: n / m whole
    tuples, each tuple's m samples consecutive (the layout :func:`models.layers.pack` reads).
    """

    def __init__(self, data, labels, generator, output_range, device, m, n_tuples):
        super().__init__(data, labels, generator, output_range, device)
        self.m = m
        self.tuples = torch.randint(len(data), (n_tuples, m), generator=generator)

    def next(self, n):
        if n % self.m:
            raise ValueError(f"{n} samples are not whole {self.m}-tuples")
        b = n // self.m
        if b > len(self.tuples):
            raise ValueError(f"a batch of {b} tuples exceeds the {len(self.tuples)} fixed tuples")
        if self.pos + b > len(self.tuples):  # the rest of the epoch is too short for a batch
            self.pos = 0
        if self.pos == 0:
            self.epoch += 1
        idx = self.tuples[self.pos : self.pos + b].reshape(-1)
        self.pos += b
        return self._scale(self.data[idx]).to(self.device), self.labels[idx].to(self.device)


class FreshStackedBatches:
    """Stacked MNIST drawn afresh for every batch (Metz et al.'s setting as PacGAN's code has it,
    ``unrolled_GAN_experiment/D=0.5G/model.py``, ``generate_stacked_mnist``): each image stacks
    three digits drawn uniformly with replacement from `digits` (uint8 (N, H, W)) as R, G, B;
    labels are the modes 100a + 10b + c."""

    def __init__(self, digits, digit_labels, generator, output_range, device="cpu"):
        self.digits, self.digit_labels = digits, digit_labels.long()
        self.generator, self.output_range, self.device = generator, output_range, torch.device(device)

    def next(self, n):
        idx = torch.randint(len(self.digits), (n, 3), generator=self.generator)
        lo, hi = self.output_range
        x = self.digits[idx].float() * ((hi - lo) / 255.0) + lo  # (n, 3, H, W)
        y = self.digit_labels[idx] @ torch.tensor([100, 10, 1])
        return x.to(self.device), y.to(self.device)

    def fork(self, generator):
        return FreshStackedBatches(self.digits, self.digit_labels, generator, self.output_range, self.device)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class MixtureBatches:
    """Fresh draws from a 2-D Gaussian mixture (points and component labels) at every call."""

    def __init__(self, mixture, generator, device="cpu"):
        self.mixture, self.generator, self.device = mixture, generator, torch.device(device)

    def next(self, n):
        x, k = self.mixture.sample_with_labels(n, self.generator)
        return x.to(self.device), k.to(self.device)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass
