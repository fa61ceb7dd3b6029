"""richlazy: exact solutions, simulations and diagnostics for lazy versus rich learning.

Theory modules (NumPy/SciPy) are imported here; the torch-based engine is imported on use.
"""

from importlib.metadata import version as _version

from richlazy import deep_linear, single_neuron, wide_linear
from richlazy.experiments import names as experiment_names
from richlazy.experiments.runner import redraw
from richlazy.experiments.runner import run as run_experiment

__version__ = _version("richlazy")

__all__ = [
    "__version__",
    "deep_linear",
    "experiment_names",
    "redraw",
    "run_experiment",
    "single_neuron",
    "wide_linear",
]
