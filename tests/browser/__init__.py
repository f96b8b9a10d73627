"""Chromium tests of the Voila apps and JupyterLab (a package so its conftest is not imported as ``conftest``)."""
