"""Is a difference real? Welch's two-sample t-test and the t-interval of the difference of two means.

For samples ``a`` (side A, n_a values) and ``b`` (side B): ``diff = mean(b) - mean(a)``,
``se = sqrt(s_a^2/n_a + s_b^2/n_b)`` (s: sample standard deviation, n - 1 in the denominator),
``t = diff / se``, and the Welch-Satterthwaite degrees of freedom
``df = se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1))``. The 95 % confidence interval of the
difference is ``diff +- t_0.975(df) * se``; the change is *significant* when that interval excludes 0,
which is the two-sided t-test at alpha = 0.05 (``|t| >= t_0.975(df)``).

pyperf's ``compare_to`` runs Student's pooled test (``pyperf._utils.is_significant``), which needs equal
sample sizes and assumes equal variances; with equal sizes its t equals Welch's t, only the degrees of
freedom differ (``n_a + n_b - 2``). Welch's test needs neither assumption.

The Student-t distribution is computed here (regularised incomplete beta function, continued fraction as
in Numerical Recipes 6.4), so that no SciPy is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["t_cdf", "t_ppf", "Welch", "welch"]

CONFIDENCE = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` (> 0, not necessarily whole) degrees of freedom."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return 1.0 - tail if t > 0 else tail


def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile (0 < q < 1) of Student's t with ``df`` degrees of freedom (bisection to 1e-12)."""
    if not 0.0 < q < 1.0 or not df > 0:
        raise ValueError(f"t_ppf: q={q!r} must be in (0, 1) and df={df!r} > 0")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < q:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Welch:
    """Welch's t-test of B against A (values in the metric's own unit; ``diff`` = mean B - mean A).

    ``ci_low``/``ci_high``: the ``confidence`` (0.95) t-interval of ``diff``; ``p``: two-sided p-value;
    ``significant``: the interval excludes 0. Non-finite figures (both sides without spread) are
    ``inf``/``nan`` here and null in JSON.
    """

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    sd_a: float
    sd_b: float
    diff: float
    se: float
    t: float
    df: float
    ci_low: float
    ci_high: float
    p: float
    significant: bool
    confidence: float = CONFIDENCE


def _mean_sd(x: list[float]) -> tuple[float, float]:
    m = math.fsum(x) / len(x)
    return m, math.sqrt(math.fsum((v - m) ** 2 for v in x) / (len(x) - 1))


def welch(a: list[float], b: list[float], confidence: float = CONFIDENCE) -> Welch:
    """Welch's two-sample t-test and t-interval of ``mean(b) - mean(a)``; each side needs 2 values or more."""
    a, b = [float(v) for v in a], [float(v) for v in b]
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"welch: needs at least 2 values per side, got {len(a)} and {len(b)}")
    ma, sa = _mean_sd(a)
    mb, sb = _mean_sd(b)
    va, vb = sa * sa / len(a), sb * sb / len(b)
    diff = mb - ma
    se = math.sqrt(va + vb)
    if se == 0.0:  # no spread on either side: any difference is exact, none is noise
        t = math.copysign(math.inf, diff) if diff else math.nan
        return Welch(len(a), len(b), ma, mb, sa, sb, diff, 0.0, t, math.nan, diff, diff,
                     0.0 if diff else 1.0, diff != 0.0, confidence)
    df = (va + vb) ** 2 / (va * va / (len(a) - 1) + vb * vb / (len(b) - 1))
    t = diff / se
    half = t_ppf(0.5 + confidence / 2.0, df) * se
    p = 2.0 * (1.0 - t_cdf(abs(t), df))
    return Welch(len(a), len(b), ma, mb, sa, sb, diff, se, t, df, diff - half, diff + half, p,
                 not (diff - half <= 0.0 <= diff + half), confidence)
