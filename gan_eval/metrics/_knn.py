"""Chunked Euclidean distances and k-nearest-neighbour radii in bounded memory.

Never builds an N x M matrix when N x M exceeds ``defaults.KNN_BLOCK_ELEMENTS``: rows of the
query set are processed in blocks. Used by precision/recall, density/coverage and the k-NN
divergence estimators.

Accuracy: squared distances come from ||a||² - 2 a·b + ||b||² after both sets are centred on
the mean of the reference set, which keeps float32 cancellation small; pass float64 tensors for
exact-in-double distances.
"""

import math

import torch

from .. import defaults


def block_rows(n_cols, max_elements=None):
    """How many query rows fit in one block of at most `max_elements` distances."""
    max_elements = max_elements or defaults.KNN_BLOCK_ELEMENTS
    return max(1, int(max_elements // max(1, n_cols)))


def distance_blocks(x, y, squared=False, max_elements=None):
    """Yield ``(start, block)`` with ``block[i, j] = ||x[start + i] - y[j]||`` (squared if asked).

    `x` (N x D) and `y` (M x D) are tensors of one dtype and device.
    """
    centre = y.mean(dim=0, keepdim=True)
    xc, yc = x - centre, y - centre
    y_sq = (yc * yc).sum(dim=1)
    rows = block_rows(y.shape[0], max_elements)
    for start in range(0, x.shape[0], rows):
        a = xc[start:start + rows]
        d = (a * a).sum(dim=1)[:, None] - 2.0 * (a @ yc.T) + y_sq[None, :]
        d.clamp_(min=0)
        if not squared:
            d.sqrt_()
        yield start, d


def kth_neighbour_distance(x, y=None, k=1, squared=False, max_elements=None):
    """Distance from each row of `x` to its k-th nearest row of `y` (k >= 1).

    With ``y=None`` the neighbours are taken within `x` itself and the point's own zero distance
    is counted as the first of the k + 1 smallest, so the result is the distance to the k-th
    *other* point (duplicates count as distinct points at distance 0). This is the rule of the
    `prdc` package (``np.partition(d, k)[:, k]`` on the full matrix).
    """
    within = y is None
    y = x if within else y
    kk = k + 1 if within else k
    if kk > y.shape[0]:
        raise ValueError(f"k={k} needs more than {y.shape[0] - (1 if within else 0)} neighbours")
    out = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for start, block in distance_blocks(x, y, squared=squared, max_elements=max_elements):
        out[start:start + block.shape[0]] = block.topk(kk, dim=1, largest=False).values[:, -1]
    return out


# Square tiles: the within-set helper below computes each unordered pair of tiles once and uses
# it for both, which halves the matmul work of k-NN radii. Tiles can be centred as they are cut,
# which spares a centred copy of a whole set.
TILE = 2048  # rows per tile side; large enough for full-speed matmuls, small enough to stay cheap


def tile_side(max_elements=None):
    """Side of the square distance tiles: at most ``TILE`` and within the block budget."""
    max_elements = max_elements or defaults.KNN_BLOCK_ELEMENTS
    return max(1, min(TILE, math.isqrt(int(max_elements))))


def tiles(n, side):
    return [slice(i, min(n, i + side)) for i in range(0, n, side)]


def centred_tile(x, rows, centre=None):
    """``x[rows] - centre`` (just ``x[rows]`` for ``centre=None``) and its squared row norms."""
    a = x[rows] if centre is None else x[rows] - centre
    return a, (a * a).sum(dim=1)


def squared_distance_tile(a, a_sq, b, b_sq):
    """``a_sq_i + b_sq_j - 2 a_i·b_j``, the squared distances of two centred tiles.

    Not clamped: entries for (near-)coincident points can be a rounding error below 0; callers
    clamp what they keep, or compare so that the sign does not matter.
    """
    return torch.addmm(b_sq[None, :], a, b.T, alpha=-2.0).add_(a_sq[:, None])


def smallest_within(x, kk, centre=None, max_elements=None):
    """The `kk` smallest squared distances from each row of `x` to the rows of `x`, ascending (N x kk).

    The point's own distance is included and set to exactly 0, so column ``k`` holds the squared
    distance to the k-th *other* point (prdc's rule). `centre` (a point near the data, e.g. its
    mean) is subtracted tile by tile to keep float32 cancellation small; pass None for data that
    is centred already.
    """
    if kk > x.shape[0]:
        raise ValueError(f"kk={kk} needs at least {kk} rows, got {x.shape[0]}")
    return _smallest_per_row(x, kk, centre, max_elements, own=0.0, with_index=False)[0]


def nearest_within(x, kk, centre=None, max_elements=None):
    """The `kk` nearest *other* rows of each row of `x`: squared distances (N x kk, ascending,
    clamped at 0) and their row indices (N x kk, int64).

    A row's own index is never among them; exact duplicates of it are (at distance 0), as in
    :func:`smallest_within`, whose column k equals column k - 1 here. `centre` as there.
    """
    if kk > x.shape[0] - 1:
        raise ValueError(f"kk={kk} needs at least {kk + 1} rows, got {x.shape[0]}")
    return _smallest_per_row(x, kk, centre, max_elements, own=float("inf"), with_index=True)


def _smallest_per_row(x, kk, centre, max_elements, own, with_index):
    """Tiled k smallest squared distances per row (and their row indices when `with_index`), a
    row's distance to itself set to `own` (0: counted, inf: left out); clamped at 0 after
    selection, which is monotone and keeps the order."""
    n = x.shape[0]
    best = torch.full((n, kk), float("inf"), dtype=x.dtype, device=x.device)
    best_i = torch.zeros((n, kk), dtype=torch.int64, device=x.device) if with_index else None

    def merge(rows, values, index):
        v, j = torch.cat([best[rows], values], dim=1).topk(kk, dim=1, largest=False)
        if with_index:
            best_i[rows] = torch.gather(torch.cat([best_i[rows], index], dim=1), 1, j)
        best[rows] = v

    parts = tiles(n, tile_side(max_elements))
    for p, ri in enumerate(parts):
        a, a_sq = centred_tile(x, ri, centre)
        for rj in parts[p:]:
            b, b_sq = (a, a_sq) if rj == ri else centred_tile(x, rj, centre)
            d = squared_distance_tile(a, a_sq, b, b_sq)
            if rj == ri:
                d.diagonal().fill_(own)
            v, j = d.topk(min(kk, d.shape[1]), dim=1, largest=False)
            merge(ri, v, j + rj.start)
            if rj != ri:
                v, j = d.T.topk(min(kk, d.shape[0]), dim=1, largest=False)
                merge(rj, v, j + ri.start)
    return best.clamp_(min=0), best_i
