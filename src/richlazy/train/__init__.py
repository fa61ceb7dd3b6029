"""The batched training engine: gradient descent and adaptive gradient flow."""

from richlazy.train.engine import TrainResult, step_size, train
from richlazy.train.schedule import checked_schedule, log_schedule

__all__ = ["TrainResult", "checked_schedule", "log_schedule", "step_size", "train"]
