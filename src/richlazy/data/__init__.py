"""Data generators: everything is generated from a seed, nothing is downloaded."""

from richlazy.data.tasks import Dataset, sphere, student_directions, teacher_student, xor

__all__ = ["Dataset", "sphere", "student_directions", "teacher_student", "xor"]
