"""Label-free performance estimation for classifiers (a draft; issue 21).

A classifier's accuracy, precision, recall, F1 and ROC AUC estimated from its scores
alone, CBPE-style (NannyML's confidence-based performance estimation), as a stream:

* :mod:`.calibrator`: the score -> probability map learnt out of fold on the
  reference, with bootstrap replicate maps for its own error;
* :mod:`.window`: expected and realised metrics of a window, and the interval;
* :mod:`.estimator`: :class:`PerformanceEstimator`, the window estimates and the
  ``estimated_accuracy`` drop test;
* :mod:`.check`: :class:`CalibrationCheck`, the test of realised against expected
  correctness once labels arrive (concept shift).

Numpy and the standard library only, plus ``streamproc.core.calibration``'s threshold
functions. Not built: regression (DLE), thresholds other than the model's own
predictions, and a sequential test on metrics other than accuracy.
"""

from .check import CalibrationCheck
from .estimator import PerformanceAlert, PerformanceEstimator
from .window import METRICS, MetricEstimate

__all__ = ["METRICS", "CalibrationCheck", "MetricEstimate", "PerformanceAlert",
           "PerformanceEstimator"]
