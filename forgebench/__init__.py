"""forgebench: a benchmark suite for face forgery research.

Stages: faces (:mod:`forgebench.faces`) -> generators (:mod:`forgebench.generators`) ->
quality metrics (:mod:`forgebench.metrics`) -> detectors (:mod:`forgebench.detectors`) ->
leaderboard (:mod:`forgebench.leaderboard`). See docs/architecture.md.
"""

__version__ = "0.1.0"
