"""Data generators: everything is generated from a seed, nothing is downloaded."""

from richlazy.data.tasks import Dataset, sphere, teacher_student, xor

__all__ = ["Dataset", "sphere", "teacher_student", "xor"]
