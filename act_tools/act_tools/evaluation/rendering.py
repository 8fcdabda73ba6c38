"""The render settings an evaluation's sim uses: the checkpoint's (those its training
episodes were rendered with), each overridden by the sim parameters given, with a warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping


def eval_render_settings(checkpoint: Path, sim_parameters: Mapping[str, Any],
                         warn: Callable[[str], None] = print) -> dict:
    """The render settings to evaluate with: the checkpoint's (those of its training
    episodes), each overridden by sim_parameters with a warning when it differs.

    A checkpoint whose episodes did not record them (older data, real cameras) gets
    act_sim.rendering.RenderSettings' defaults, also with a warning. Returns
    RenderSettings.to_dict()."""
    from act_sim.rendering import RenderSettings
    from act_training.train.checkpoint import load_checkpoint_dataset

    recorded = load_checkpoint_dataset(checkpoint).render_settings
    if recorded is None:
        settings = RenderSettings().to_dict()
        warn(f'warning: {checkpoint} does not say how its training images were rendered; '
             f'evaluating with the default render settings {settings}')
    else:
        settings = RenderSettings.from_dict(recorded).to_dict()
    asked = {key: sim_parameters[key] for key in settings if key in sim_parameters}
    differing = {key: value for key, value in asked.items() if value != settings[key]}
    if differing and recorded is not None:
        warn(f'warning: rendering with {differing}, not as the training episodes of {checkpoint} were '
             f'({ {key: settings[key] for key in differing} }): the policy sees another scene than it learned')
    return RenderSettings.from_dict({**settings, **asked}).to_dict()


def warn_on_camera_size(checkpoint: Path, cameras: Mapping[str, Any], warn: Callable[[str], None]) -> None:
    """Warns when the sim's cameras (the robot config's) render at another size than the
    training episodes' frames: downsampled as training did, a frame rendered small is not
    the same image."""
    from act_training.train.checkpoint import load_checkpoint_dataset

    recorded = load_checkpoint_dataset(checkpoint).camera_sizes
    for name, camera in cameras.items():
        size = recorded.get(name)
        if size is not None and tuple(size) != (camera.height, camera.width):
            warn(f'warning: camera {name} renders at {camera.height}x{camera.width}, the training episodes of '
                 f'{checkpoint} at {size[0]}x{size[1]}')
