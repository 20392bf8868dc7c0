"""lmfit glue: objective over several datasets, FitResult, agreement factors, result files."""

from refine.fit.minimize import FitOptions, run_fit
from refine.fit.objective import Dataset, Objective, Restraint
from refine.fit.phase_result import PhaseResult, Phases, Value
from refine.fit.result import FitResult, result_to_dict, write_result
from refine.fit.statistics import Statistics, pdf_statistics, powder_statistics

__all__ = ["Dataset", "FitOptions", "FitResult", "Objective", "PhaseResult", "Phases", "Restraint", "Statistics",
           "Value", "pdf_statistics", "powder_statistics", "result_to_dict", "run_fit", "write_result"]
