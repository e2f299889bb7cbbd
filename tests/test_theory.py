"""Probes of the 2014 GAN paper's theory (gan_eval.theory) against closed forms.

Closed forms: D* = ½ and C(G) = -log 4 at p_g = p_data (Theorem 1), C = 0 and JSD = log 2 for
disjoint supports, V = log c + log(1 - c) for a constant discriminator, the derivatives of
log(1 - D) and -log D. The JSD itself is checked against scipy.integrate.quad / dblquad.
"""

import math

import numpy as np
import pytest
from scipy.integrate import dblquad, quad
from scipy.stats import multivariate_normal, norm

from gan_eval import theory
from gan_eval.errors import GanEvalError

GRID = np.linspace(-12, 12, 4001)
GRID2 = (np.linspace(-8, 8, 321), np.linspace(-8, 8, 301))
P = norm(0, 1).pdf
Q = norm(1.5, 0.7).pdf
P2 = multivariate_normal([0, 0], [[1, 0.3], [0.3, 1]]).pdf
Q2 = multivariate_normal([1, -1], [[1.5, 0], [0, 0.5]]).pdf


def quad_jsd_1d(p, q, lo, hi):
    def f(t):
        a, b = p(t), q(t)
        m = 0.5 * (a + b)
        return 0.5 * (a * math.log(a / m) if a > 0 else 0.0) + 0.5 * (b * math.log(b / m) if b > 0 else 0.0)
    return quad(f, lo, hi, limit=400, epsabs=1e-12)[0]


def test_equal_densities():
    d = theory.optimal_discriminator(P, P, GRID)
    assert d.shape == GRID.shape and np.abs(d - 0.5).max() < 1e-15
    assert theory.generator_criterion(P, P, GRID) == pytest.approx(-math.log(4), abs=1e-6)
    assert abs(theory.jsd(P, P, GRID)) < 1e-12
    d2 = theory.optimal_discriminator(P2, P2, GRID2)
    assert d2.shape == (321, 301) and np.abs(d2 - 0.5).max() < 1e-15
    assert theory.generator_criterion(P2, P2, GRID2) == pytest.approx(-math.log(4), abs=1e-6)


def test_criterion_is_minus_log4_plus_twice_jsd_1d():
    j = theory.jsd(P, Q, GRID)
    assert j == pytest.approx(quad_jsd_1d(P, Q, -12, 12), abs=1e-6)
    assert theory.generator_criterion(P, Q, GRID) == pytest.approx(-math.log(4) + 2 * j, abs=1e-6)
    assert theory.jsd(P, Q, GRID, base=2) == pytest.approx(j / math.log(2), rel=1e-12)


def test_criterion_is_minus_log4_plus_twice_jsd_2d():
    j = theory.jsd(P2, Q2, GRID2)

    def f(y, x):
        a, b = P2([x, y]), Q2([x, y])
        m = 0.5 * (a + b)
        return 0.5 * a * math.log(a / m) + 0.5 * b * math.log(b / m)

    ref = dblquad(f, -8, 8, -8, 8, epsabs=1e-10)[0]
    assert j == pytest.approx(ref, abs=1e-6)
    assert theory.generator_criterion(P2, Q2, GRID2) == pytest.approx(-math.log(4) + 2 * j, abs=1e-6)


def test_disjoint_supports():
    grid = np.linspace(-40, 40, 8001)
    p, q = norm(-20, 1).pdf, norm(20, 1).pdf
    assert theory.jsd(p, q, grid) == pytest.approx(math.log(2), abs=1e-6)
    assert theory.generator_criterion(p, q, grid) == pytest.approx(0.0, abs=1e-6)
    d = theory.optimal_discriminator(p, q, grid)
    assert d[grid < -5].min() > 1 - 1e-12 and d[grid > 5].max() < 1e-12


def test_value_function():
    for c in (0.1, 0.5, 0.8):
        v = theory.value_function(lambda t: np.full(len(t), c), P, Q, GRID)
        assert v == pytest.approx(math.log(c) + math.log(1 - c), abs=1e-6)
    # D* rounds to exactly 1 far in p_data's tail, where p_g > 0 still: V would be -inf there, so
    # keep it a hair inside (0, 1); the change to V is far below 1e-9
    d_star = np.clip(theory.optimal_discriminator(P, Q, GRID), 1e-12, 1 - 1e-12)
    best = theory.value_function(d_star, P, Q, GRID)
    assert best == pytest.approx(theory.generator_criterion(P, Q, GRID), abs=1e-9)
    for wiggle in (0.05, -0.05):  # D* is the maximiser (Proposition 1)
        other = np.clip(d_star + wiggle * np.sin(GRID), 1e-9, 1 - 1e-9)
        assert theory.value_function(other, P, Q, GRID) < best
    assert theory.value_function(np.zeros_like(GRID), P, Q, GRID) == -math.inf


def test_arrays_and_callables_agree():
    assert theory.jsd(P(GRID), Q(GRID), GRID) == theory.jsd(P, Q, GRID)


def test_generator_gradients_saturation():
    d = np.array([0.5, 1e-2, 1e-4, 1e-8])
    g = theory.generator_gradients(d)
    np.testing.assert_allclose(g["saturating_dD"], -1 / (1 - d), rtol=1e-12)
    np.testing.assert_allclose(g["nonsaturating_dD"], -1 / d, rtol=1e-12)
    np.testing.assert_allclose(g["saturating_dlogit"], -d, rtol=1e-9)
    np.testing.assert_allclose(g["nonsaturating_dlogit"], -(1 - d), rtol=1e-9)
    # as D(G(z)) -> 0: saturating -> -1 w.r.t. D and -> 0 w.r.t. the logit; non-saturating blows up / -> -1
    assert g["saturating_dD"][-1] == pytest.approx(-1.0, abs=1e-7)
    assert g["nonsaturating_dD"][-1] < -1e7
    assert abs(g["saturating_dlogit"][-1]) < 1e-7
    assert g["nonsaturating_dlogit"][-1] == pytest.approx(-1.0, abs=1e-7)


def test_bad_inputs():
    with pytest.raises(GanEvalError, match=r"p_g: integrates to .* not 1 \(widen or refine the grid\)"):
        theory.jsd(P, norm(0, 5).pdf, np.linspace(-7, 7, 141))
    with pytest.raises(GanEvalError, match="strictly increasing"):
        theory.jsd(P, Q, GRID[::-1])
    with pytest.raises(GanEvalError, match="1-D .* or 2-D .* only, got 3 axes"):
        theory.jsd(P, Q, (GRID, GRID, GRID))
    with pytest.raises(GanEvalError, match=r"p_data: values must lie in \[0, inf\]"):
        theory.jsd(lambda t: -P(t), Q, GRID)
    with pytest.raises(GanEvalError, match=r"D: values must lie in \[0, 1\]"):
        theory.value_function(np.full_like(GRID, 1.5), P, Q, GRID)
    with pytest.raises(GanEvalError, match="do not match the grid"):
        theory.value_function(np.full(10, 0.5), P, Q, GRID)
    with pytest.raises(GanEvalError, match="returned 1 values"):
        theory.jsd(lambda t: 1.0, Q, GRID)
    with pytest.raises(GanEvalError, match="strictly between 0 and 1"):
        theory.generator_gradients([0.0, 0.5])
    with pytest.raises(GanEvalError, match="strictly between 0 and 1"):
        theory.generator_gradients([])
