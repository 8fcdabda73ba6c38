"""rosbag2 episodes -> training episodes (ACT HDF5 layout) and a LeRobot dataset.

`convert_episodes(ConversionConfig) -> ConversionReport` is the entry point (`act convert`).
"""

from act_training.conversion.converter import ConversionConfig, ConversionReport, EpisodeResult, convert_episodes

__all__ = ['ConversionConfig', 'ConversionReport', 'EpisodeResult', 'convert_episodes']
