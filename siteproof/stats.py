"""The statistics behind balance and spread verdicts: SciPy's chi-square and binomial
distributions (scipy.stats), and the verdicts' own arithmetic around them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as distributions


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X chi-square distributed with dof degrees of freedom."""
    if dof < 1:
        raise ValueError("chi-square needs at least one degree of freedom")
    return float(distributions.chi2.sf(statistic, dof)) if statistic > 0 else 1.0


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
    test = distributions.chisquare(counts)  # Pearson's, against equal expected counts
    return Balance(tuple(counts), float(test.statistic), float(test.pvalue), max(counts) / (total / len(counts)))


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly."""
    return float(distributions.binom.sf(k - 1, n, p))  # sf(k - 1) = P(X > k - 1)


def max_share_bound(items: int, bins: int, alpha: float = 0.001) -> int:
    """The most items one of `bins` bins may get when items land uniformly at random.

    The smallest c with bins * P(Binomial(items, 1/bins) > c) <= alpha: a fair random
    assignment exceeds it on some bin with probability at most alpha (Bonferroni).
    """
    if bins < 1:
        raise ValueError("at least one bin")
    if bins == 1:
        return items
    # The binomial's inverse survival function: the smallest c with P(X > c) <= alpha / bins.
    return int(distributions.binom.isf(alpha / bins, items, 1 / bins))
