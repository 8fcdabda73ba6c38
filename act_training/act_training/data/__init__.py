"""Episodes in the ACT HDF5 layout, their normalization, and training samples."""

from act_training.data.episodes import EpisodeDataError, EpisodeInfo, find_episodes, inspect_episode
from act_training.data.images import frames_to_model_size, normalize_images
from act_training.data.normalization import Normalization, VectorStats

__all__ = ['EpisodeDataError', 'EpisodeInfo', 'Normalization', 'VectorStats', 'find_episodes',
           'frames_to_model_size', 'inspect_episode', 'normalize_images']
