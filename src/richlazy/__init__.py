"""richlazy: exact solutions, simulations and diagnostics for lazy versus rich learning.

``import richlazy`` loads the theory modules (NumPy/SciPy) and neither torch nor xarray; the
experiment runner (``run_experiment``, ``redraw``, ``experiment_names``) is imported on first use.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from richlazy import deep_linear, single_neuron, wide_linear
from richlazy._exports import imported_on_use

if TYPE_CHECKING:
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

__getattr__ = imported_on_use(
    __name__,
    {
        "experiment_names": ("richlazy.experiments", "names"),
        "redraw": ("richlazy.experiments.runner", "redraw"),
        "run_experiment": ("richlazy.experiments.runner", "run"),
    },
)
