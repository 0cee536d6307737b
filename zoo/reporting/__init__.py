"""Reporting: figures of models and data (model_figures.py), model cards and the README table
(cards.py), and tables as text, JSON, CSV or Markdown (tables.py)."""
