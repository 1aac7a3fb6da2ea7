"""Multivariate drift of a model's numeric features (a draft; issue 21).

A change of the features' joint structure (correlations that flip or vanish, with
every marginal unchanged) is invisible to per-feature monitors. This package tests
it per event:

* :mod:`.reference`: normal scores, VAR(1) prewhitening and whitening learnt on the
  reference, so that a stable stream becomes independent N(0, I) vectors;
* :mod:`.cusum`: a CUSUM of predictable likelihood ratios against two EWMA
  covariance estimates (fast and slow), calibrated to the budget;
* :mod:`.monitor`: :class:`JointDriftMonitor`, which learns, tests and explains
  (the pair and the direction that moved most).

Numpy and the standard library only. Categorical features are left out.
"""

from .cusum import JointCusum, threshold
from .monitor import D_MAX, JointAlert, JointDriftMonitor, select_features
from .reference import JointReference

__all__ = ["D_MAX", "JointAlert", "JointCusum", "JointDriftMonitor", "JointReference",
           "select_features", "threshold"]
