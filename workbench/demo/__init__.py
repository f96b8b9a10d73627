"""Demo-school generator: a realistic, messy, fully synthetic junior-high school (示范中学).

>>> import tempfile, pathlib
>>> from workbench.demo import generate_demo_school
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> summary = generate_demo_school(out / "exports", out / "ground_truth", students=40, weeks=4, seed=7)
>>> summary["students"], sorted(summary["files"])[:3]
(40, ['activities.csv', 'attendance.csv', 'consents.csv'])
"""
from .generate import generate_demo_school

__all__ = ["generate_demo_school"]
