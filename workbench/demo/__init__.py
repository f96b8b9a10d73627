"""Demo-school generator: a realistic, messy, fully synthetic junior-high school (示范中学).

>>> from workbench.demo import generate_demo_school
>>> summary = generate_demo_school("exports", "ground_truth", students=480, seed=20260901)
"""
from .generate import generate_demo_school

__all__ = ["generate_demo_school"]
