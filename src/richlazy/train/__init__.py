"""The batched training engine: ``train`` with a solver, GD or adaptive gradient flow
(docs/theory.md §5.3)."""

from richlazy._validate import MAX_STEPS
from richlazy.train.batch import (
    DEVICES,
    DTYPES,
    Device,
    DType,
    check_device,
    engine_threads,
    step_size,
    threads_for,
)
from richlazy.train.descent import fuses
from richlazy.train.engine import TrainResult, train
from richlazy.train.flow import FlowSteps
from richlazy.train.schedule import checked_schedule, log_schedule
from richlazy.train.solvers import (
    GD,
    METHODS,
    SOLVERS,
    GradientFlow,
    Method,
    Solver,
    solver_named,
)

__all__ = [
    "DEVICES",
    "DTYPES",
    "GD",
    "MAX_STEPS",
    "METHODS",
    "SOLVERS",
    "DType",
    "Device",
    "FlowSteps",
    "GradientFlow",
    "Method",
    "Solver",
    "TrainResult",
    "check_device",
    "checked_schedule",
    "engine_threads",
    "fuses",
    "log_schedule",
    "solver_named",
    "step_size",
    "threads_for",
    "train",
]
