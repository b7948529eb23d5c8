"""The application layer: the ``fpdiff`` command, the demo, experiment files, the runner and experiment sweeps.

Built on the library below it (solvers, scores, metrics, audit, plots); no
library module imports it. ``fd.sweep`` is :func:`fpdiff.app.sweeps.sweep`.
"""
