"""Evaluation: metrics (metrics.py), the one batched scoring pass (scoring.py), PCA baselines
(pca.py), the linear probe (probe.py), and what ``zoo eval`` / ``zoo compare`` report (results.py)."""
from .results import ALL_METRICS, DEFAULT_METRICS, compare, eval_rows, evaluate, evaluate_pca

__all__ = ["ALL_METRICS", "DEFAULT_METRICS", "compare", "eval_rows", "evaluate", "evaluate_pca"]
