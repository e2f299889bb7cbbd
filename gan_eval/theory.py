"""Numerical probes of the theory of the 2014 GAN paper, for densities on a 1-D or 2-D grid.

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014:

* value function  V(D, G) = E_{p_data}[log D(x)] + E_{p_g}[log(1 - D(x))]          (eq. 1)
* optimal discriminator for a fixed G:  D*(x) = p_data(x) / (p_data(x) + p_g(x))    (Prop. 1)
* generator criterion  C(G) = max_D V(D, G) = V(D*, G) = -log 4 + 2 JSD(p_data ‖ p_g),
  minimal (= -log 4) exactly when p_g = p_data                                       (Thm. 1)
* saturation (§3): early in training D(G(z)) ≈ 0 and log(1 - D(G(z))) saturates, so G is
  trained to maximise log D(G(z)) instead: :func:`generator_gradients` evaluates both.

A **grid** is a 1-D array of increasing points (1-D densities) or a pair ``(xs, ys)`` of such
arrays (2-D densities on their tensor product). A **density** is a callable or an array of
values on the grid. Callables receive the points as an array of shape (n,) on a 1-D grid and
(nx * ny, 2) on a 2-D grid (``scipy.stats`` ``pdf`` methods work as they are) and return n
density values. Integrals use the trapezoidal rule along each axis; densities must integrate
to 1 within 1e-3 on the grid (widen or refine it otherwise), so the grid covers their mass.
"""

import math

import numpy as np
from scipy.integrate import trapezoid

from .errors import GanEvalError

_MASS_TOLERANCE = 1e-3


def _axis(a, name):
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise GanEvalError(f"{name}: expected an array of numbers") from None
    if a.ndim != 1 or a.size < 2:
        raise GanEvalError(f"{name}: a grid axis needs a 1-D array of at least 2 points, got shape {a.shape}")
    if not np.isfinite(a).all() or not (np.diff(a) > 0).all():
        raise GanEvalError(f"{name}: grid points must be finite and strictly increasing")
    return a


def _grid(grid):
    """(axes, points for callables, shape of values on the grid)."""
    if isinstance(grid, (tuple, list)) and len(grid) > 0 and np.ndim(grid[0]) >= 1:
        if len(grid) != 2:
            raise GanEvalError(f"grid: 1-D (an array of points) or 2-D (a pair of arrays) only, got {len(grid)} axes")
        xs, ys = _axis(grid[0], "grid[0]"), _axis(grid[1], "grid[1]")
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        return (xs, ys), np.stack([gx.ravel(), gy.ravel()], axis=1), (xs.size, ys.size)
    xs = _axis(grid, "grid")
    return (xs,), xs, (xs.size,)


def _values(f, grid_info, name, lo=0.0, hi=math.inf):
    axes, points, shape = grid_info
    if callable(f):
        try:
            v = np.asarray(f(points), dtype=np.float64)
        except GanEvalError:
            raise
        except Exception as e:  # a user callable: report what failed, plainly
            raise GanEvalError(f"{name}: calling it on the grid points failed ({type(e).__name__}: {e})") from None
        if v.size != points.shape[0]:
            raise GanEvalError(f"{name}: returned {v.size} values for {points.shape[0]} grid points")
        v = v.reshape(shape)
    else:
        try:
            v = np.asarray(f, dtype=np.float64)
        except (TypeError, ValueError):
            raise GanEvalError(f"{name}: expected a callable or an array of values on the grid") from None
        if v.shape != shape:
            raise GanEvalError(f"{name}: values of shape {v.shape} do not match the grid {shape}")
    if not np.isfinite(v).all():
        raise GanEvalError(f"{name}: NaN or infinite values on the grid")
    if (v < lo).any() or (v > hi).any():
        raise GanEvalError(f"{name}: values must lie in [{lo:g}, {hi:g}]")
    return v


def _integrate(values, axes):
    out = values
    for ax in reversed(axes):
        out = trapezoid(out, ax, axis=-1)
    return float(out)


def _density(f, grid_info, name):
    v = _values(f, grid_info, name)
    mass = _integrate(v, grid_info[0])
    if abs(mass - 1.0) > _MASS_TOLERANCE:
        raise GanEvalError(f"{name}: integrates to {mass:.6g} on the grid, not 1 (widen or refine the grid)")
    return v


def _plogr(p, r):
    """p log r with 0 log(.) = 0 where p = 0, -inf where p > 0 and r = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, r, 1.0)), 0.0)


def _d_star(p, q):
    s = p + q
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, p / np.where(s > 0, s, 1.0), 0.5)


def optimal_discriminator(p_data, p_g, grid):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) on the grid (Proposition 1).

    Where both densities vanish any D is optimal; ½ is returned there. Returns an array shaped
    like the grid (n,) or (nx, ny).
    """
    g = _grid(grid)
    return _d_star(_density(p_data, g, "p_data"), _density(p_g, g, "p_g"))


def value_function(D, p_data, p_g, grid):
    """V(D, G) = ∫ p_data log D + ∫ p_g log(1 - D), by the trapezoidal rule on the grid (eq. 1).

    `D` is a callable or an array of values in [0, 1] on the grid. Where a density vanishes its
    term is 0; where D = 0 on p_data's support (or D = 1 on p_g's) V is -inf. Note that D*
    evaluated in floating point rounds to exactly 1 where p_data >> p_g > 0: use
    :func:`generator_criterion` for V(D*, G), which never forms 1 - D*.
    """
    g = _grid(grid)
    p, q = _density(p_data, g, "p_data"), _density(p_g, g, "p_g")
    d = _values(D, g, "D", 0.0, 1.0)
    return _value(d, p, q, g[0])


def _value(d, p, q, axes):
    integrand = _plogr(p, d) + _plogr(q, 1.0 - d)
    if np.isneginf(integrand).any():
        return -math.inf
    return _integrate(integrand, axes)


def generator_criterion(p_data, p_g, grid):
    """C(G) = max_D V(D, G) = V(D*, G); equals -log 4 + 2 JSD(p_data ‖ p_g) (Theorem 1)."""
    g = _grid(grid)
    p, q = _density(p_data, g, "p_data"), _density(p_g, g, "p_g")
    # log D* = log(p / (p + q)) and log(1 - D*) = log(q / (p + q)), the latter not formed as
    # 1 - D*: it would round to 0 where p >> q
    s = p + q
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(s > 0, s, 1.0)
        return _integrate(_plogr(p, p / safe) + _plogr(q, q / safe), g[0])


def jsd(p_data, p_g, grid, base="e"):
    """JSD(p_data ‖ p_g) = ½ ∫ p log(2p / (p + q)) + ½ ∫ q log(2q / (p + q)) on the grid.

    In nats (``base="e"``) or bits (``base=2``); between 0 and log 2.
    """
    g = _grid(grid)
    p, q = _density(p_data, g, "p_data"), _density(p_g, g, "p_g")
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_p = np.where(m > 0, p / np.where(m > 0, m, 1.0), 1.0)
        r_q = np.where(m > 0, q / np.where(m > 0, m, 1.0), 1.0)
    value = 0.5 * _integrate(_plogr(p, r_p) + _plogr(q, r_q), g[0])
    if base == "e":
        return value
    try:
        b = float(base)
    except (TypeError, ValueError):
        b = math.nan
    if not (math.isfinite(b) and b > 0 and b != 1):
        raise GanEvalError(f"base must be 'e' or a number > 0 other than 1, got {base!r}")
    return value / math.log(b)


def generator_gradients(d):
    """Gradients of the two generator losses at discriminator outputs ``d = D(G(z))`` in (0, 1).

    Evaluated by torch autograd in float64 on the losses as a generator minimises them:

    * saturating (the minimax game):  L_sat = log(1 - D),   dL/dD = -1 / (1 - D) → -1 as D → 0
    * non-saturating (§3 of the paper):  L_ns = -log D,   dL/dD = -1 / D → -∞ as D → 0

    and with respect to the discriminator's logit a (D = sigmoid(a)), the signal that reaches
    the generator through the last layer:

    * saturating:  dL_sat/da = -D → 0 as D → 0 (the gradient vanishes: saturation)
    * non-saturating:  dL_ns/da = -(1 - D) → -1 as D → 0 (a strong signal)

    Returns a dict of float64 arrays: ``d``, ``saturating_dD``, ``nonsaturating_dD``,
    ``saturating_dlogit``, ``nonsaturating_dlogit``.
    """
    import torch

    try:
        values = np.atleast_1d(np.asarray(d, dtype=np.float64))
    except (TypeError, ValueError):
        raise GanEvalError("d: expected discriminator outputs in (0, 1)") from None
    if values.size == 0 or not np.isfinite(values).all() or (values <= 0).any() or (values >= 1).any():
        raise GanEvalError("d: discriminator outputs must lie strictly between 0 and 1")

    out = {"d": values}
    dd = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(torch.log1p(-dd).sum(), dd)
    out["saturating_dD"] = g.numpy()
    (g,) = torch.autograd.grad((-torch.log(dd)).sum(), dd)
    out["nonsaturating_dD"] = g.numpy()
    # logits a with sigmoid(a) = d; stable forms log(1 - sigmoid(a)) = -softplus(a), -log sigmoid(a) = softplus(-a)
    a = torch.tensor(np.log(values) - np.log1p(-values), dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad((-torch.nn.functional.softplus(a)).sum(), a)
    out["saturating_dlogit"] = g.numpy()
    (g,) = torch.autograd.grad(torch.nn.functional.softplus(-a).sum(), a)
    out["nonsaturating_dlogit"] = g.numpy()
    return out
