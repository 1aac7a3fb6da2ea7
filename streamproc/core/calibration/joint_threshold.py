"""The threshold of the joint-drift CUSUM for a budget, in each dimension.

The ``joint_drift`` statistic (:mod:`streamproc.core.stats.joint_likelihood`) is a CUSUM
of predictable likelihood ratios: under the null ``E[exp(W_t) | past] = 1`` exactly, so
the walk's Cramér exponent is 1 and a false alarm needs an excursion of height ``h``,
whose chance per event is ``c_d exp(-h)`` (renewal theory). ``c_d`` depends only on the
dimension and the EWMA rates; it was measured once per dimension by simulation
(``python -m streamproc.core.stats.joint_likelihood``) and is tabulated here, so that
``h = ln(c_d ARL)`` keeps a budget of ``ARL`` events (Lorden's ``h = ln ARL`` would be
10 to 30 times too conservative).
"""

from __future__ import annotations

import math

from ..errors import InvalidSetting

__all__ = ["JOINT_RATE_CONSTANTS", "joint_threshold"]

# c_d of the EWMA rates (0.2, 0.02) for d = 1..16: false alarms per event = c_d exp(-h).
# Simulated on 400k N(0, I) events each (seed 0; ~10% sampling error, hence the
# non-monotone wiggle).
JOINT_RATE_CONSTANTS: dict[int, float] = {
    1: 0.009509, 2: 0.03057, 3: 0.04153, 4: 0.07024, 5: 0.08067, 6: 0.09638, 7: 0.1257,
    8: 0.1091, 9: 0.1208, 10: 0.1135, 11: 0.1047, 12: 0.1098, 13: 0.1066, 14: 0.103,
    15: 0.09466, 16: 0.08529,
}


def joint_threshold(arl_events: float, d: int) -> float:
    """``h`` for ``arl_events`` events between false alarms in dimension ``d``.

    >>> round(joint_threshold(20_000, 2), 3), round(joint_threshold(1e6, 10), 3)
    (6.416, 11.64)
    """
    if not arl_events > 1:
        raise InvalidSetting(f"a joint-drift budget must exceed 1 event, got {arl_events!r}")
    c = JOINT_RATE_CONSTANTS.get(d)
    if c is None:
        raise InvalidSetting(f"a joint-drift monitor takes 1 to {max(JOINT_RATE_CONSTANTS)} "
                             f"features, got {d}")
    return math.log(max(c * arl_events, math.e))
