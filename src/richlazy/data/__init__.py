"""Data generators: everything is generated from a seed, nothing is downloaded."""

from richlazy.data.reference_draws import (
    ReferenceCell,
    ReferenceGrid,
    alpha_ref,
    reference_cell,
    reference_cells,
    reference_dataset,
)
from richlazy.data.tasks import Dataset, sphere, student_directions, teacher_student, xor

__all__ = [
    "Dataset",
    "ReferenceCell",
    "ReferenceGrid",
    "alpha_ref",
    "reference_cell",
    "reference_cells",
    "reference_dataset",
    "sphere",
    "student_directions",
    "teacher_student",
    "xor",
]
