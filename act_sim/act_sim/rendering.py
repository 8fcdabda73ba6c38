"""Camera images of a MuJoCo scene, rendered offscreen (EGL or OSMesa, no display).

Rendering is by far the most expensive part of a simulated step on a CPU (Mesa
llvmpipe; bench/bench_sim.py on the 2-core project machine, shared: a 50 Hz step of
physics 0.4-0.6 ms; one 480x640 camera 90-100 ms with the scene's 4096 shadow map and 4x
multisampling, 34-43 ms with a 1024 map and none, 13-20 ms without shadows), so the
settings are explicit (RenderSettings, one default for the whole suite) and each camera is
rendered only when asked for.

An OpenGL context belongs to the thread that made it current: create and use a
`CameraRenderer` on one thread only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import mujoco
import numpy as np


@dataclass(frozen=True)
class RenderSettings:
    """Image quality against rendering time.

    The defaults here are THE render settings of the suite: sim_node declares its
    parameters with them (so `act record --sim`, `act sim`, the launch files and `act eval`
    all render alike unless told otherwise), recorded episodes carry the settings they were
    rendered with (episode.json -> HDF5 attribute `render_settings` -> the checkpoint's
    dataset info), and `act eval` renders with the checkpoint's. No shadows: rendering is
    about 2.6x cheaper on llvmpipe (bench/bench_sim.py), and a policy must see at
    evaluation the scene it was trained on, whichever that is.
    """

    # Side of the shadow map in pixels; 0 renders without shadows.
    shadow_map_size: int = 0
    # Multisampling for anti-aliasing, samples per pixel; 0 = off.
    multisamples: int = 0

    def __post_init__(self):
        if self.shadow_map_size < 0 or self.shadow_map_size > 16384:
            raise ValueError(f'shadow_map_size must be 0 (no shadows) .. 16384, got {self.shadow_map_size}')
        if self.multisamples < 0 or self.multisamples > 16:
            raise ValueError(f'multisamples must be 0 .. 16, got {self.multisamples}')

    def to_dict(self) -> dict[str, int]:
        """As stored in episode metadata and checkpoints (and as sim_node's parameters)."""
        return {'shadow_map_size': int(self.shadow_map_size), 'multisamples': int(self.multisamples)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'RenderSettings':
        """Reads to_dict's form; an unknown key is an error naming it."""
        unknown = sorted(set(data) - {'shadow_map_size', 'multisamples'})
        if unknown:
            raise ValueError(f'render settings: unknown keys {unknown}; known: shadow_map_size, multisamples')
        defaults = cls()
        return cls(shadow_map_size=int(data.get('shadow_map_size', defaults.shadow_map_size)),
                   multisamples=int(data.get('multisamples', defaults.multisamples)))


@dataclass(frozen=True)
class CameraSpec:
    name: str  # camera name in the MuJoCo scene
    height: int
    width: int


class CameraRenderer:
    """Renders named scene cameras; one MuJoCo renderer per image size."""

    def __init__(self, model: mujoco.MjModel, cameras: list[CameraSpec], settings: RenderSettings = RenderSettings()):
        scene_cameras = [model.camera(i).name for i in range(model.ncam)]
        missing = [camera.name for camera in cameras if camera.name not in scene_cameras]
        if missing:
            raise ValueError(f'scene has no cameras {missing}; it has {scene_cameras}')
        self._model = model
        self._cameras = {camera.name: camera for camera in cameras}
        self._settings = settings
        # The offscreen buffer must hold the largest image; these are visual settings only.
        model.vis.global_.offwidth = max([model.vis.global_.offwidth] + [camera.width for camera in cameras])
        model.vis.global_.offheight = max([model.vis.global_.offheight] + [camera.height for camera in cameras])
        model.vis.quality.shadowsize = settings.shadow_map_size or 1
        model.vis.quality.offsamples = settings.multisamples
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}

    @property
    def camera_names(self) -> list[str]:
        return list(self._cameras)

    def _renderer(self, height: int, width: int) -> mujoco.Renderer:
        renderer = self._renderers.get((height, width))
        if renderer is None:
            renderer = mujoco.Renderer(self._model, height, width)
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self._settings.shadow_map_size > 0
            self._renderers[(height, width)] = renderer
        return renderer

    def render(self, data: mujoco.MjData, name: str) -> np.ndarray:
        """The camera's current image. (H, W, 3) uint8 RGB"""
        camera = self._cameras[name]
        renderer = self._renderer(camera.height, camera.width)
        renderer.update_scene(data, camera=name)
        return renderer.render()

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()
