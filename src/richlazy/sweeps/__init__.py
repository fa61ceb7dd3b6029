"""Grids of runs as resumable shards (docs/architecture.md): the run context every sweep uses
(``richlazy.sweeps.context``, no torch) and the (τ, δ, seed) grids of two-layer networks
(``richlazy.sweeps.two_layer``, docs/theory.md §5.1).

Names are imported from their submodule on first use, so that code needing only the run context
(the experiment registry, ``richlazy list``) does not load torch.
"""

from richlazy._exports import imported_on_use

_PROGRESS = ("Progress", "SilentProgress")
_TWO_LAYER = (
    "METRICS",
    "SEEDINGS",
    "GridConfig",
    "TeacherStudentConfig",
    "TrainedGrid",
    "grid_metrics",
    "initial_cells",
    "seed_results",
    "sweep",
    "train_cells",
    "trajectory_key",
)

__all__ = sorted((*_PROGRESS, "RunContext", *_TWO_LAYER))

__getattr__ = imported_on_use(
    __name__,
    {
        **{name: (f"{__name__}.progress", name) for name in _PROGRESS},
        "RunContext": (f"{__name__}.context", "RunContext"),
        **{name: (f"{__name__}.two_layer", name) for name in _TWO_LAYER},
    },
)
