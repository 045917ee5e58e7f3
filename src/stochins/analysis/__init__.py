"""Analysis of results files: population summaries, dose-response (EC50), plots, and single cells.

Population analyses read the stored per-condition summaries (``mean``, ``std``, ``quantiles``)
rather than the trajectories. Single-cell analyses (information, noise, response classes, the
report) read the trajectories in blocks of cells into histograms and online accumulators, so
memory stays bounded on files with millions of cells. Plotting needs matplotlib (the ``plot``
extra) and is imported lazily.
"""

from __future__ import annotations

from ._common import AnalysisError, time_index
from .classes import (Bimodality, ResponseFraction, ResponseTimes, bimodality, cell_response_times,
                      fraction_responding, response_times)
from .dose_response import DoseResponse, EC50Fit, dose_keys, dose_response, ec50, ec50_interval, hill
from .information import (InformationEstimate, blahut_arimoto, capacity_from_samples, capacity_over_time,
                          channel_capacity, channel_information, mutual_information)
from .noise import NoiseDecomposition, noise_decomposition
from .summary import SummaryRow, cv, fano, format_table, summary_table

_CELLPLOTS = ("plot_distributions", "plot_dose_response_cells", "plot_capacity", "plot_noise", "plot_cells")
__all__ = ["AnalysisError", "time_index", "SummaryRow", "summary_table", "format_table", "cv", "fano",
           "DoseResponse", "EC50Fit", "dose_response", "dose_keys", "ec50", "hill", "plot_results",
           "plot_dose_response", "InformationEstimate", "channel_capacity", "mutual_information",
           "capacity_from_samples", "blahut_arimoto", "channel_information", "NoiseDecomposition",
           "noise_decomposition", "ResponseFraction", "Bimodality", "ResponseTimes", "fraction_responding",
           "bimodality", "response_times", "cell_response_times", "capacity_over_time", "ec50_interval",
           "write_report", *_CELLPLOTS]


def __getattr__(name: str):  # matplotlib only when a plot or report is asked for
    if name in ("plot_results", "plot_dose_response"):
        from . import plots

        return getattr(plots, name)
    if name in _CELLPLOTS:
        from . import cellplots

        return getattr(cellplots, name)
    if name == "write_report":
        from .report import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
