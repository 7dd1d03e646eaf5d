"""Downstream evaluation (the EdgeL3 protocol) on UrbanSound8K, ESC-50/10 or a class-folder set."""

from .datasets import Clip, Dataset, fold_split, load_dataset
from .extract import extract_embeddings
from .protocol import ClassifierConfig, cross_validate, run_fold

__all__ = [
    "Clip",
    "Dataset",
    "fold_split",
    "load_dataset",
    "extract_embeddings",
    "ClassifierConfig",
    "cross_validate",
    "run_fold",
]
