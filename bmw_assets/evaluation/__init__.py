"""Evaluation of a model variant: held-out perplexity, forgetting probe, fact recall,
semantic entropy, sample generations, the per-variant report and the comparison.

Plain Python over torch/transformers; imports no Dagster. The out-of-process entry
point is `python -m bmw_assets.evaluation.run --spec eval_spec.json`.
"""
