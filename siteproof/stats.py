"""The statistics behind balance and spread verdicts, in plain Python (no SciPy).

chi2_sf is the regularised upper incomplete gamma function Q(k/2, x/2), by its series
below a+1 and by Lentz's continued fraction above (Numerical Recipes, section 6.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_EPS = 1e-15
_TINY = 1e-300
_ITERATIONS = 10_000


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    n = a
    for _ in range(_ITERATIONS):
        n += 1
        term *= x / n
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _ITERATIONS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X chi-square distributed with dof degrees of freedom."""
    if dof < 1:
        raise ValueError("chi-square needs at least one degree of freedom")
    if statistic <= 0:
        return 1.0
    a, x = dof / 2, statistic / 2
    if x < a + 1:
        return max(0.0, 1.0 - _gamma_p_series(a, x))
    return _gamma_q_fraction(a, x)


@dataclass(frozen=True)
class Balance:
    """How evenly counts spread over bins, against a uniform expectation."""

    counts: tuple[int, ...]
    chi_square: float
    p_value: float
    max_over_mean: float

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def mean(self) -> float:
        return self.total / len(self.counts)


def uniform_balance(counts: list[int]) -> Balance:
    """Pearson's chi-square goodness of fit to uniform, and the max/mean ratio."""
    if len(counts) < 2:
        raise ValueError("a balance needs at least two bins")
    total = sum(counts)
    if total == 0:
        return Balance(tuple(counts), math.inf, 0.0, math.inf)
    mean = total / len(counts)
    statistic = sum((c - mean) ** 2 for c in counts) / mean
    return Balance(tuple(counts), statistic, chi2_sf(statistic, len(counts) - 1), max(counts) / mean)


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return min(1.0, sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def max_share_bound(items: int, bins: int, alpha: float = 0.001) -> int:
    """The most items one of `bins` bins may get when items land uniformly at random.

    The smallest c with bins * P(Binomial(items, 1/bins) > c) <= alpha: a fair random
    assignment exceeds it on some bin with probability at most alpha (Bonferroni).
    """
    if bins < 1:
        raise ValueError("at least one bin")
    if bins == 1:
        return items
    for c in range(items + 1):
        if bins * binomial_sf(c + 1, items, 1 / bins) <= alpha:
            return c
    return items
