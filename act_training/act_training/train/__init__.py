"""Training runs: the trainer, checkpoint I/O, DDP setup, optimizer and schedule."""

from act_training.train.checkpoint import (Checkpoint, CheckpointError, TrainingState, load_checkpoint,
                                           load_training_state, resolve_checkpoint_dir, save_checkpoint)
from act_training.train.trainer import TrainingError, TrainProgress, TrainResult, train

__all__ = ['Checkpoint', 'CheckpointError', 'TrainProgress', 'TrainResult', 'TrainingError', 'TrainingState',
           'load_checkpoint', 'load_training_state', 'resolve_checkpoint_dir', 'save_checkpoint', 'train']
