"""richlazy: exact solutions, simulations and diagnostics for lazy versus rich learning.

Theory modules (NumPy/SciPy) are imported here; the torch-based engine is imported on use.
"""

from importlib.metadata import version as _version

from richlazy import single_neuron
from richlazy.experiments import names as experiment_names
from richlazy.experiments.runner import redraw
from richlazy.experiments.runner import run as run_experiment

__version__ = _version("richlazy")

__all__ = ["__version__", "experiment_names", "redraw", "run_experiment", "single_neuron"]
