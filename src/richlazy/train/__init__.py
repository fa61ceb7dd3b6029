"""The batched training engine: gradient descent and adaptive gradient flow."""

from richlazy.train.engine import (
    DEVICES,
    DTYPES,
    METHODS,
    TrainResult,
    check_device,
    engine_threads,
    fuses,
    step_size,
    threads_for,
    train,
)
from richlazy.train.schedule import checked_schedule, log_schedule

__all__ = [
    "DEVICES",
    "DTYPES",
    "METHODS",
    "TrainResult",
    "check_device",
    "checked_schedule",
    "engine_threads",
    "fuses",
    "log_schedule",
    "step_size",
    "threads_for",
    "train",
]
