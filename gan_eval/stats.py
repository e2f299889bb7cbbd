"""Mergeable first and second moments of features, in float64.

Holds (count, Σx, Σxxᵀ) so that batches, shards (torch.distributed all-reduce) and streaming
updates combine by addition, and memory does not grow with the number of samples.
"""

import torch

from .errors import GanEvalError


class Statistics:
    """Running count, sum and sum of outer products of d-dimensional features (float64)."""

    def __init__(self, dims, device="cpu"):
        self.dims = int(dims)
        self.count = 0
        self.sum = torch.zeros(self.dims, dtype=torch.float64, device=device)
        self.sum_outer = torch.zeros(self.dims, self.dims, dtype=torch.float64, device=device)

    def update(self, features):
        """Add a batch of features (N x d array or tensor)."""
        x = torch.as_tensor(features)
        if x.ndim != 2 or x.shape[1] != self.dims:
            raise GanEvalError(f"expected features of shape (N, {self.dims}), got {tuple(x.shape)}")
        x = x.to(device=self.sum.device, dtype=torch.float64)
        if not bool(torch.isfinite(x).all()):
            raise GanEvalError("features contain NaN or infinite values")
        self.count += x.shape[0]
        self.sum += x.sum(dim=0)
        self.sum_outer += x.T @ x
        return self

    def merge(self, other):
        if other.dims != self.dims:
            raise GanEvalError(f"cannot merge statistics of {other.dims} and {self.dims} dimensions")
        self.count += other.count
        self.sum += other.sum.to(self.sum.device)
        self.sum_outer += other.sum_outer.to(self.sum.device)
        return self

    @property
    def mean(self):
        if self.count < 1:
            raise GanEvalError("no samples: the mean is undefined")
        return (self.sum / self.count).cpu().numpy()

    @property
    def cov(self):
        """Unbiased covariance (divides by N - 1), as np.cov and pytorch-fid."""
        if self.count < 2:
            raise GanEvalError(f"a covariance needs at least 2 samples, got {self.count}")
        mu = self.sum / self.count
        c = (self.sum_outer - self.count * torch.outer(mu, mu)) / (self.count - 1)
        c = (c + c.T) / 2
        return c.cpu().numpy()

    @classmethod
    def from_features(cls, features):
        x = torch.as_tensor(features)
        return cls(x.shape[1]).update(x)
