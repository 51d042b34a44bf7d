"""Datasets the suite evaluates on: GLUE SST-2 and CoLA (local files or the Hub)."""

from robustness.data.glue import GlueSplit, load_glue

__all__ = ["GlueSplit", "load_glue"]
