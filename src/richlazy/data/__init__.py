"""Data generators: everything is generated from a seed, nothing is downloaded."""

from richlazy.data.hierarchy import HierarchySplit, RandomHierarchy, one_hot, random_hierarchy
from richlazy.data.modular import ModularSplit, modular_arithmetic
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
    "HierarchySplit",
    "ModularSplit",
    "RandomHierarchy",
    "ReferenceCell",
    "ReferenceGrid",
    "alpha_ref",
    "modular_arithmetic",
    "one_hot",
    "random_hierarchy",
    "reference_cell",
    "reference_cells",
    "reference_dataset",
    "sphere",
    "student_directions",
    "teacher_student",
    "xor",
]
