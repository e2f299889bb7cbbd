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

    def state_dict(self):
        return {"perm": self.perm, "pos": self.pos, "epoch": self.epoch}

    def load_state_dict(self, state):
        self.perm, self.pos, self.epoch = state["perm"], int(state["pos"]), int(state["epoch"])


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
