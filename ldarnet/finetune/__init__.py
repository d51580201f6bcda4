"""Fine-tuning LDARNet on labeled sequences: loaders, task builders, training, metrics, cross-validation."""

from .crossval import (PAPER_BATCH_SIZES, PAPER_LEARNING_RATES, RESULT_COLUMNS, cross_validate, grid_search,
                       hyperparameter_grid, write_results_table)
from .load import load_csv, load_fasta_classes, save_csv
from .metrics import METRICS, classification_metrics
from .models import classifier_factory
from .tasks import TASKS, build_task, promoter_task, splice_site_task
from .train import FitResult, encode_sequences, predict_logits, train_classifier

__all__ = [
    "PAPER_BATCH_SIZES", "PAPER_LEARNING_RATES", "RESULT_COLUMNS", "METRICS", "FitResult",
    "classification_metrics", "classifier_factory", "cross_validate", "encode_sequences", "grid_search",
    "hyperparameter_grid", "load_csv", "load_fasta_classes", "predict_logits", "save_csv",
    "train_classifier", "write_results_table", "TASKS", "build_task", "promoter_task", "splice_site_task",
]
