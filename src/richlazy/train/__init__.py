"""The batched training engine: gradient descent and adaptive gradient flow."""

from richlazy.train.engine import (
    DEVICES,
    DTYPES,
    METHODS,
    TrainResult,
    engine_threads,
    fuses,
    step_size,
    train,
)
from richlazy.train.schedule import checked_schedule, log_schedule

__all__ = [
    "DEVICES",
    "DTYPES",
    "METHODS",
    "TrainResult",
    "checked_schedule",
    "engine_threads",
    "fuses",
    "log_schedule",
    "step_size",
    "train",
]
