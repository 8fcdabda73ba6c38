"""Linear layers through oneDNN on the CPU, for training and for inference.

Why: PyTorch's CPU nn.Linear runs MKL's sgemm, and on the AVX512-BF16 AMD EPYC this
project measured first, MKL takes its generic code path: ACT's transformer shapes ran at
100-165 GFLOP/s through it and at 185-210 GFLOP/s through oneDNN's matmul (the forward of
the feed-forward layers at batch 8: 60 -> 42 ms; bench/bench_act_vs_lerobot.py shows the
effect on whole steps). oneDNN is the library PyTorch's CPU convolutions already use;
the operators below are the ones Inductor calls (`torch.ops.mkldnn`).
- OneDnnLinear: an nn.Linear (same parameters and state dict) whose large fp32 CPU
  matmuls go through oneDNN, forward and input gradient; the weight gradient stays with
  MKL, measured faster.
- PackedLinear: inference only, the weight reordered once into oneDNN's blocked layout; on
  AVX2-only x86 its large products run as 1x1 convolutions (linear_kernel says why).
- PackedConv2d: inference only, a convolution (with bias) whose weight is reordered once for
  the one input size it will see, with the ReLU after it, or a residual add and the ReLU,
  done inside the convolution (oneDNN post-ops) instead of as separate passes over the
  activations. backbone.PackedBackbone builds ResNet-18's inference forward from them.
"""

from __future__ import annotations

import functools

import torch
from torch import nn


@functools.cache
def onednn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, '_linear_pointwise')


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, 'none', [], '')


class _OneDnnLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _onednn_linear(x, weight, bias)  # (..., out)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_rows = grad.reshape(-1, grad.shape[-1])  # (M, out)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # weight.t() as a strided view: oneDNN reads the transposed layout directly, where a
            # contiguous copy cost a pass over the weight in every backward (72 ms of a
            # paper-config step at batch 8 on the model-167 Xeon).
            grad_x = _onednn_linear(grad_rows, weight.t(), None).reshape(x.shape)  # (..., in)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_rows.t().mm(x.reshape(-1, x.shape[-1]))  # (out, in)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_rows.sum(0)  # (out,)
        return grad_x, grad_weight, grad_bias


# Below this many multiply-adds per call MKL measured as fast (one layer, forward and
# backward), and the CPU demo's small model gained nothing from oneDNN; the paper
# config's large matmuls are above.
ONEDNN_MIN_MACS = 1 << 29


class OneDnnLinear(nn.Linear):
    """nn.Linear; large fp32 matmuls on the CPU (outside autocast) through oneDNN, the
    rest as nn.Linear."""

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        """relu(self(x)); PackedLinear does it in one oneDNN call."""
        return torch.relu(self(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type == 'cpu' and x.dtype == torch.float32 and self.weight.dtype == torch.float32
                and x.numel() * self.out_features >= ONEDNN_MIN_MACS
                and not torch.is_autocast_enabled('cpu') and onednn_available()):
            return _OneDnnLinearFunction.apply(x, self.weight, self.bias)
        return super().forward(x)


# Below this many multiply-adds per call the 1x1 convolution's fixed cost outweighs its
# faster inner kernel (bench/results/linear_kernels_epyc_avx2_model49.txt: 0.60-1.16x the
# matmul's speed at 0.9-13.1 M, 1.11-1.30x from 26.2 M on but for one product). No product
# of ACT's two configs falls between 13.1 M (the CPU demo's largest) and 26.2 M (the paper
# config's smallest), so any threshold in that gap makes the same choices for them.
CONV1X1_MIN_MACS = 1 << 24


def linear_kernel(macs: int, dtype: torch.dtype = torch.float32) -> str:
    """How PackedLinear runs a product of `macs` multiply-adds (rows x in x out) of `dtype`
    on this CPU: 'conv1x1' for fp32 from CONV1X1_MIN_MACS on where oneDNN runs its AVX2
    kernels and no AVX-512 ones (CpuFeatures.onednn_avx2_only), else 'matmul'.

    Why: on the AVX2-only AMD EPYC (family 23 model 49), the paper config's products ran
    1.11-1.30x faster as 1x1 convolutions (oneDNN's brgconv_1x1 kernel, 146-194 GFLOP/s)
    than through oneDNN's matmul (128-155 GFLOP/s), all but one: 302 x 3200 -> 512 at 0.96x.
    Whole chunks: 1.05x with 1 camera, 1.07x with 4 (bench/bench_linear_kernels.py,
    bench/results/linear_kernels_epyc_avx2_model49.txt). The CPU demo's products, 0.9-13.1 M
    multiply-adds, ran at 0.60-1.16x, so they stay matmuls. Measured on that CPU only; other
    AVX2-only CPUs are assumed alike. Where AVX-512 runs, the matmul is the measured kernel
    and stays; bf16 through the convolution was not measured.
    """
    if dtype != torch.float32 or macs < CONV1X1_MIN_MACS or not onednn_conv_available():
        return 'matmul'
    from act_common.cpu_features import cpu_features  # read on first CPU use, as runner's

    return 'conv1x1' if cpu_features().onednn_avx2_only else 'matmul'


# A 1x1 convolution's geometry: padding, stride, dilation, groups.
_CONV1X1 = ([0, 0], [1, 1], [1, 1], 1)


class PackedLinear(nn.Module):
    """nn.Linear for inference: same weight and bias (kept, other code slices them), plus
    the weight reordered into oneDNN's blocked layout, used by forward.

    kernel: 'matmul' (oneDNN's matmul), 'conv1x1' (the rows as the pixels of a 1 x rows
    image through oneDNN's 1x1 convolution: the same product), or None: linear_kernel()'s
    choice for each row count the layer is called with.
    rows_hint: the typical number of input rows (all leading dimensions together); the
    matmul layout is chosen for it.

    Weight layouts (opaque oneDNN tensors: plain attributes, not buffers, so state_dict and
    .to() do not see them): the matmul's is laid out once and serves every row count. The
    convolution's depends on the row count (a 3200x512 weight laid out for 1202 rows was
    reordered again in every call with 100 rows: 58 ms a 4-camera chunk, from
    ONEDNN_VERBOSE), so it is laid out at the first call with each row count and kept for
    the layer's life: one copy of the weight per row count seen. Meant for one inference
    thread; concurrent first calls would at worst lay a weight out twice.

    Raises ValueError for an unknown kernel, for 'conv1x1' where this torch has no oneDNN
    convolution, and (in forward) for an input whose last dimension is not in_features.
    """

    def __init__(self, linear: nn.Linear, rows_hint: int | None = None, kernel: str | None = None):
        super().__init__()
        if kernel not in (None, 'matmul', 'conv1x1'):
            raise ValueError(f"PackedLinear kernel must be 'matmul', 'conv1x1' or None, got {kernel!r}")
        if kernel == 'conv1x1' and not onednn_conv_available():
            raise ValueError("PackedLinear kernel 'conv1x1' needs oneDNN's convolution operators, "
                             'which this torch build lacks')
        self.weight = linear.weight  # (out, in)
        self.bias = linear.bias  # (out,) or None
        self.kernel = kernel
        self.rows_hint = rows_hint
        self._matmul_weight = None
        self._by_rows: dict[int, tuple[str, torch.Tensor]] = {}  # rows -> (kernel, laid-out weight)
        # The matmul layout now, as before there was a choice; a convolution's at first use
        # (a layer told rows_hint may never see that many rows: the decoder's see chunk_size).
        if rows_hint and self._kernel_for(rows_hint) == 'matmul':
            self._weight_for(rows_hint)

    def _kernel_for(self, rows: int) -> str:
        out_features, in_features = self.weight.shape
        if rows == 0:
            return 'matmul'
        return self.kernel or linear_kernel(rows * in_features * out_features, self.weight.dtype)

    def _weight_for(self, rows: int) -> tuple[str, torch.Tensor]:
        """(kernel, weight laid out for it) for calls with `rows` input rows."""
        entry = self._by_rows.get(rows)
        if entry is None:
            kernel = self._kernel_for(rows)
            weight = self.weight.detach()
            if kernel == 'matmul':
                if self._matmul_weight is None:
                    self._matmul_weight = torch.ops.mkldnn._reorder_linear_weight(weight, self.rows_hint)
                entry = (kernel, self._matmul_weight)
            else:
                out_features, in_features = weight.shape
                entry = (kernel, torch.ops.mkldnn._reorder_convolution_weight(
                    weight.reshape(out_features, in_features, 1, 1), *_CONV1X1, [1, in_features, 1, rows]))
            self._by_rows[rows] = entry
        return entry

    def _run(self, x: torch.Tensor, post_op: str) -> torch.Tensor:
        """(..., in) -> (..., out); post_op 'none' or 'relu', applied inside the kernel."""
        in_features = self.weight.shape[1]
        if x.shape[-1:] != (in_features,):
            raise ValueError(f'PackedLinear expects inputs (..., {in_features}), got {tuple(x.shape)}')
        rows = x.numel() // in_features
        kernel, packed = self._weight_for(rows)
        if kernel == 'matmul':
            return torch.ops.mkldnn._linear_pointwise(x, packed, self.bias, post_op, [], '')
        image = x.reshape(1, 1, rows, in_features).permute(0, 3, 1, 2)  # (1, in, 1, rows), channels-last view
        out = torch.ops.mkldnn._convolution_pointwise(image, packed, self.bias, *_CONV1X1,
                                                      post_op, [], '')  # (1, out, 1, rows) channels-last
        return out.permute(0, 2, 3, 1).reshape(*x.shape[:-1], out.shape[1])  # (..., out), a view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out)"""
        return self._run(x, 'none')

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out), relu(x W^T + b) with the ReLU inside the matmul or
        convolution (a oneDNN post-op) instead of a second pass over the output."""
        return self._run(x, 'relu')


@functools.cache
def onednn_conv_available() -> bool:
    """Whether PackedConv2d can run: oneDNN's fused convolution and weight reorder operators."""
    return (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, '_convolution_pointwise')
            and hasattr(torch.ops.mkldnn, '_reorder_convolution_weight'))


class PackedConv2d(nn.Module):
    """nn.Conv2d for inference on the CPU, for one input size: same weight and bias (kept
    as attributes), plus the weight reordered once into the layout oneDNN picks for
    input_size (N, C_in, H, W). Other sizes are not supported: the caller knows the one
    it runs (the policy's cameras and image size)."""

    def __init__(self, conv: nn.Conv2d, input_size: tuple[int, int, int, int]):
        super().__init__()
        if conv.bias is None:
            raise ValueError('PackedConv2d needs a convolution with a bias (fold the BatchNorm into it first)')
        self.weight, self.bias = conv.weight, conv.bias  # (C_out, C_in / groups, kH, kW), (C_out,)
        self.geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        # An opaque oneDNN tensor: a plain attribute, as PackedLinear's.
        self.packed = torch.ops.mkldnn._reorder_convolution_weight(conv.weight.detach(), *self.geometry,
                                                                   list(input_size))

    def forward(self, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
        """(N, C_in, H, W) channels-last -> (N, C_out, H', W'), ReLU applied inside when relu."""
        return torch.ops.mkldnn._convolution_pointwise(x, self.packed, self.bias, *self.geometry,
                                                       'relu' if relu else 'none', [], '')

    def add_relu(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """relu(conv(x) + residual), one oneDNN call; residual: (N, C_out, H', W')."""
        return torch.ops.mkldnn._convolution_pointwise.binary(x, residual, self.packed, self.bias, *self.geometry,
                                                              'add', 1.0, 'relu', [], '')


def pack_linears(module: nn.Module, rows_hint: int | None = None) -> nn.Module:
    """Replaces, in place, every nn.Linear inside module (CPU, inference only: the packed
    weight has no autograd). Returns module."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, PackedLinear(child, rows_hint))
        else:
            pack_linears(child, rows_hint)
    return module


def _linear_pointwise_flops(x_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    """2 * rows * in * out: a matmul's multiply-adds, counted twice. The output's last
    dimension is `out` for a plain and for a packed (blocked) weight alike."""
    rows = 1
    for size in x_shape[:-1]:
        rows *= size
    return 2 * rows * x_shape[-1] * out_shape[-1]


# Arguments of the plain overload of torch.ops.mkldnn._convolution_pointwise (X, W, B, padding,
# stride, dilation, groups, attr, scalars, algorithm); the binary one puts the residual second.
_CONV_POINTWISE_ARGS = 10


def _conv_pointwise_flops(*args, out_shape=None, **kwargs) -> int:
    """2 * output elements * C_in / groups * kH * kW: a convolution's multiply-adds, counted
    twice, for both overloads (FlopCounterMode keys operators by packet). A packed
    (oneDNN-layout) weight keeps its logical shape (C_out, C_in / groups, kH, kW)."""
    weight_shape = args[1] if len(args) <= _CONV_POINTWISE_ARGS else args[2]
    out_elements = 1
    for size in out_shape:
        out_elements *= size
    return 2 * out_elements * weight_shape[1] * weight_shape[2] * weight_shape[3]


def flop_counter():
    """torch.utils.flop_counter.FlopCounterMode that also counts the oneDNN linear and
    convolution operators above (torch's own formulas know aten matmuls and convolutions
    only: without this a paper-config encoder's linear layers, which go through oneDNN,
    count as zero, and so would a packed backbone)."""
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {torch.ops.mkldnn._linear_pointwise: _linear_pointwise_flops} if onednn_available() else {}
    if onednn_conv_available():
        mapping[torch.ops.mkldnn._convolution_pointwise] = _conv_pointwise_flops
    return FlopCounterMode(display=False, custom_mapping=mapping)
