"""The batched training engine: ``train`` with a solver, GD or adaptive gradient flow
(docs/theory.md §5.3).

The names here are what a user needs; the thread and fusion policies are private to the
engine (a run reports what it used: ``TrainResult.threads``, ``TrainResult.fused``; and
``GD.fuses`` says beforehand whether a batch's steps fuse). Names are imported from their
submodule on first use, so that the solver registry (``richlazy.train.solvers``, read by the
command line) loads no torch.
"""

from richlazy._exports import imported_on_use

_WHERE = {
    "DEVICES": "batch",
    "DTYPES": "batch",
    "GD": "solvers",
    "METHODS": "solvers",
    "SOLVERS": "solvers",
    "FlowSteps": "flow",
    "GradientFlow": "solvers",
    "Solver": "solvers",
    "TrainResult": "engine",
    "check_device": "batch",
    "checked_schedule": "schedule",
    "solver_named": "solvers",
    "step_size": "batch",
    "train": "engine",
}

__all__ = sorted([*_WHERE, "MAX_STEPS", "log_schedule"])

__getattr__ = imported_on_use(
    __name__,
    {
        **{name: (f"{__name__}.{module}", name) for name, module in _WHERE.items()},
        "MAX_STEPS": ("richlazy._validate", "MAX_STEPS"),
        "log_schedule": ("richlazy.runtime", "log_schedule"),
    },
)
