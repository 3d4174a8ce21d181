"""This repository's test runs: pytester, and imports that must happen once per process.

scikit-learn (the digits dataset) and matplotlib (report plots) are imported here, once, before
any test: pytester's in-process runs forget modules first imported inside them, and their C
extensions cannot be loaded a second time in one process ("cannot load module more than once
per process"), which made later tests in the same worker fail depending on test order.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402,F401
import sklearn.datasets  # noqa: E402,F401

pytest_plugins = ["pytester"]  # mcutrain's own plugin comes from its pytest11 entry point
