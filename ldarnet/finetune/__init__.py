"""Fine-tuning LDARNet on labeled sequences: loaders, task builders, training, metrics, cross-validation."""

from .baselines import KMER_SIZES, frozen_features, kmer_baseline, kmer_counts, linear_probe
from .compare import BASELINES, RECIPES, baseline_verdict, compare_variants, defaults_within, recipe
from .crossval import (PAPER_BATCH_SIZES, PAPER_LEARNING_RATES, RESULT_COLUMNS, cross_validate, grid_search,
                       hyperparameter_grid, write_results_table)
from .load import load_csv, load_fasta_classes, save_csv
from .metrics import METRICS, classification_metrics
from .folds import FoldSplit, fold_splits
from .models import AUTO_POOLING, classifier_factory, resolve_pooling
from .tasks import TASKS, build_task, promoter_task, splice_site_task
from .train import FitResult, encode_sequences, predict_logits, train_classifier

__all__ = [
    "PAPER_BATCH_SIZES", "PAPER_LEARNING_RATES", "RESULT_COLUMNS", "METRICS", "FitResult",
    "classification_metrics", "classifier_factory", "cross_validate", "encode_sequences", "grid_search",
    "hyperparameter_grid", "load_csv", "load_fasta_classes", "predict_logits", "save_csv",
    "train_classifier", "write_results_table", "TASKS", "build_task", "promoter_task", "splice_site_task",
    "KMER_SIZES", "BASELINES", "RECIPES", "FoldSplit", "compare_variants", "fold_splits", "frozen_features",
    "kmer_baseline", "kmer_counts", "linear_probe", "recipe", "AUTO_POOLING", "resolve_pooling",
    "baseline_verdict", "defaults_within",
]
