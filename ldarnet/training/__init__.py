"""Pretraining: optimiser and schedule, resumable checkpoints, the loop (single process or torchrun DDP)."""

from .evaluate import evaluate_mlm, frequency_baseline_loss
from .loop import TrainingDiverged, plan_batches, pretrain
from .reliance import acceptance_checks, context_counts, evaluate_reliance, reliance_rows, reliance_verdict
from .optim import build_optimizer, build_param_groups, set_learning_rate, stage_lr_multipliers, wsd_factor
from .state import latest_valid_checkpoint, load_checkpoint, save_checkpoint, verify_checkpoint

__all__ = [
    "pretrain", "TrainingDiverged", "plan_batches",
    "build_optimizer", "build_param_groups", "set_learning_rate", "stage_lr_multipliers", "wsd_factor",
    "save_checkpoint", "load_checkpoint", "latest_valid_checkpoint", "verify_checkpoint",
    "evaluate_mlm", "frequency_baseline_loss", "evaluate_reliance", "context_counts", "reliance_rows", "reliance_verdict",
    "acceptance_checks",
]
