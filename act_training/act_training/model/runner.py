"""How the inference forward executes on each device (numpy in, numpy out, batch of one).

Precision ('auto', 'fp32' or 'bf16'): auto is bf16 where the hardware computes bf16
natively (CUDA GPUs with bf16, CPUs with AVX512-BF16 or AMX), fp32 elsewhere. bf16 is
2x the arithmetic throughput on those units; what it changes in a trained policy's
actions is measured by bench/bench_precision.py and bounded in test_training_model.py.
CPU: eager under inference_mode (no autograd bookkeeping), linear layers and the
backbone's convolutions through oneDNN with their weights laid out once, the backbone's
ReLUs and residual adds inside its convolutions (model/onednn.py, backbone.PackedBackbone).
bf16 runs on every CPU: where oneDNN's packed bf16 reorder is not available (AVX2-only
x86, aarch64, a oneDNN capped by ONEDNN_MAX_CPU_ISA; act_common.cpu_features decides) the
bf16 linear layers and backbone stay unpacked instead of crashing inside the reorder, and
without native bf16 it is slower than fp32 (a warning says so).
CUDA: channels_last convolutions, inputs through pinned host buffers, and the whole
forward captured once as a CUDA graph and replayed (one launch instead of a few hundred
kernel launches); eager if capture fails.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch

from act_training.config import PRECISIONS
from act_training.model.inference import ActInference
from act_training.model.backbone import PackedBackbone
from act_training.model.onednn import onednn_available, onednn_conv_available, pack_linears

log = logging.getLogger('act_training')


def cpu_features():
    """act_common.cpu_features (the one reader of CPU flags), imported on first CPU use: a
    run on a GPU never reads the CPU's flags. (Of act_common, training otherwise imports only
    its plain-Python definitions: episode_format and errors.)"""
    from act_common.cpu_features import cpu_features as read

    return read()

# (per-camera (H, W, 3) uint8 frames, (Ds,) float32 normalized qpos) -> (S, Da) float32 normalized
Runner = Callable[[list[np.ndarray], np.ndarray], np.ndarray]


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes bf16 in hardware (not by converting to fp32)."""
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return cpu_features().native_bf16  # the CPU flags, read at run time (respects ACT_CPU_FLAGS_DISABLE)


def check_precision(precision: str) -> None:
    """Raises ValueError naming the choices unless precision is one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {", ".join(PRECISIONS)}, got {precision!r}')


def precision_detail(precision: str, device: torch.device) -> str:
    """What `precision` runs as on the device, in words (the policy node logs it)."""
    check_precision(precision)
    if device.type == 'cuda':
        resolved = 'bf16' if resolve_precision(precision, device) == torch.bfloat16 else 'fp32'
        return f'{resolved} on {torch.cuda.get_device_name(device)}'
    support = cpu_features().precision_support()
    return support[support['auto'] if precision == 'auto' else precision]


def packs_linear_weights(dtype: torch.dtype) -> bool:
    """Whether CpuRunner lays the weights (linear layers, and the backbone's convolutions)
    out for oneDNN: fp32 always (where oneDNN is there), bf16 only where the packed bf16
    reorder runs (cpu_features)."""
    if not onednn_available():
        return False
    return dtype == torch.float32 or cpu_features().onednn_bf16_packing


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """'auto' | 'fp32' | 'bf16' -> the dtype the backbone and transformer run in."""
    check_precision(precision)
    if precision == 'auto':
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return torch.bfloat16 if precision == 'bf16' else torch.float32


class CpuRunner:
    """Takes the engine over: converts its dtype and replaces its linear layers in place."""

    def __init__(self, engine: ActInference, dtype: torch.dtype):
        self.engine = engine.eval().set_compute_dtype(dtype)
        self.packed = packs_linear_weights(dtype)
        if dtype == torch.bfloat16 and not cpu_features().native_bf16:
            log.warning('bf16 inference on a CPU without native bf16 (%s): slower than fp32; precision auto '
                        'picks fp32 here', cpu_features().describe())
        if self.packed:
            pack_linears(self.engine, rows_hint=self.engine.token_count)
            # CpuRunner's batch is one observation: N_cam images of the model's size.
            config = self.engine.config
            if onednn_conv_available() and PackedBackbone.packs(self.engine.backbone):
                self.engine.backbone = PackedBackbone(
                    self.engine.backbone, (len(config.camera_names), 3, config.image_height, config.image_width))

    def __call__(self, frames: list[np.ndarray], qpos: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            batch = torch.stack([torch.from_numpy(frame) for frame in frames])[None]  # (1, N_cam, H, W, 3)
            out = self.engine(batch, torch.from_numpy(qpos)[None])  # (1, S, Da)
        return out[0].numpy()


class CudaRunner:
    """Static device buffers, filled from pinned host memory, then one graph replay."""

    WARMUP_ITERATIONS = 3

    def __init__(self, engine: ActInference, device: torch.device, dtype: torch.dtype, frame_shape: tuple[int, ...],
                 state_dim: int, use_graph: bool = True):
        self.device = device
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels once
        self.engine = engine.eval().set_compute_dtype(dtype)
        self.host_frames = torch.empty((1, *frame_shape), dtype=torch.uint8).pin_memory()
        self.host_qpos = torch.empty((1, state_dim), dtype=torch.float32).pin_memory()
        self.frames = torch.zeros((1, *frame_shape), dtype=torch.uint8, device=device)
        self.qpos = torch.zeros((1, state_dim), dtype=torch.float32, device=device)
        self.graph = None
        self.output = None
        if use_graph:
            try:
                self._capture()
            except Exception as error:  # some drivers/setups refuse capture; eager still works
                log.warning('CUDA graph capture failed (%s); running the policy eagerly', error)
                self.graph = None
                torch.cuda.synchronize(device)

    def _forward(self) -> torch.Tensor:
        return self.engine(self.frames, self.qpos)

    def _capture(self) -> None:
        with torch.inference_mode():
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(self.WARMUP_ITERATIONS):  # lets cuDNN/cuBLAS pick and allocate outside capture
                    self._forward()
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.output = self._forward()
            torch.cuda.synchronize(self.device)
        self.graph = graph

    def __call__(self, frames: list[np.ndarray], qpos: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            staging = self.host_frames[0].numpy()  # (N_cam, H, W, 3), pinned
            for i, frame in enumerate(frames):
                staging[i] = frame
            self.host_qpos[0].numpy()[...] = qpos
            self.frames.copy_(self.host_frames, non_blocking=True)
            self.qpos.copy_(self.host_qpos, non_blocking=True)
            if self.graph is not None:
                self.graph.replay()
                out = self.output
            else:
                out = self._forward()
            return out[0].float().cpu().numpy()  # (S, Da); the copy waits for the GPU


def build_runner(engine: ActInference, device: torch.device, dtype: torch.dtype, frame_shape: tuple[int, ...],
                 state_dim: int) -> Runner:
    if device.type == 'cuda':
        return CudaRunner(engine, device, dtype, frame_shape, state_dim)
    return CpuRunner(engine, dtype)
