"""Winograd convolution on the CPU, for inference (WinogradConv2d) and for training
(winograd_conv2d): ResNet-18's 3x3 stride-1 convolutions as F(4x4, 3x3) (Lavin and Gray 2016,
"Fast Algorithms for Convolutional Neural Networks").

A 3x3 convolution computes each output pixel from 9 multiply-adds per input channel. F(4x4,
3x3) computes a 4x4 block of outputs from the 6x6 window of input under it with 36 products
per input channel instead of 16 x 9 = 144: each window and each filter is transformed into
the same 6x6 space (B^T d B and G g G^T), the transforms multiply element by element (summed
over input channels: for each of the 36 elements, a (tiles x C_in) @ (C_in x C_out) matrix
product), and A^T m A turns the 36 sums back into the 4x4 outputs. The products are a 4x
smaller arithmetic; the transforms are passes over the activations, cheap next to the
products where the channels are many (C_in of 128 and up); at 64 channels and large maps
they cost more than the products save (measured, see conv_kernel).

The 36 products run as one oneDNN grouped 1x1 convolution (36 groups, the tiles as its
pixels, the weight laid out once): in a scratch measurement on the AVX512-BF16 EPYC (layers
2-4 of ResNet-18 at 480x640, one camera; a throwaway script, not kept in bench/) it took
2.2-2.8 ms where torch.bmm took 3.0-4.7 and 36 oneDNN matmuls 3.2-3.7. On the Intel Xeon
(model 167; another scratch script, the products alone, the same three layers) MKL's bmm
over an element-major (36, tiles, C_in) layout took 1.07-1.58 ms where the grouped
convolution took 1.33-1.77; for layers 2 and 3 with MKL held to its AVX2 kernels
(MKL_ENABLE_INSTRUCTIONS=AVX2, oneDNN left as it was: how MKL is said to run on AMD CPUs,
not measured on one) it took 1.91-2.22 ms where the convolution kept 1.31-1.43. These times
leave out the copy into the element-major layout. One oneDNN kernel for every vendor, then,
rather than one per CPU for about 1.5 ms (nine convolutions) of a 1-camera chunk's 110 on
the Xeon. The transforms are two small matrix products over all tiles at once.

Memory: the transformed weight is 36 / 9 = 4x the filter's bytes, laid out once per layer;
the paper config's nine Winograd layers hold 149 MB of them where direct convolutions hold
37 MB, and each chunk reads them once.

fp32 only. The transforms are exact in real numbers and cost precision in floats: against a
float64 convolution the outputs are off by about 1e-5 of their largest value at 128-256
input channels and 1.5e-5 at 512, where fp32's direct convolution is off by 2-3e-6
(test_training_winograd.py bounds it). That is far inside what bf16 itself rounds away, but
bf16 inputs to the transforms would not be: bf16 runs the direct convolution (conv_kernel).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from act_training.model.onednn import onednn_conv_available

# F(4, 3) with the interpolation points 0, 1, -1, 2, -2 and infinity: the matrices Lavin and
# Gray 2016 print for F(4x4, 3x3) (test_training_winograd.py checks them). 1-D:
# y = A^T [(G g) * (B^T d)] computes the 4 outputs y_i = sum_k g_k d_(i+k) (a correlation,
# which is what conv2d computes) of the 6 inputs d and the 3 taps g; 2-D nests it:
# Y = A^T [(G g G^T) * (B^T d B)] A.
INPUT_TRANSFORM = torch.tensor([[4, 0, -5, 0, 1, 0],
                                [0, -4, -4, 1, 1, 0],
                                [0, 4, -4, -1, 1, 0],
                                [0, -2, -1, 2, 1, 0],
                                [0, 2, -1, -2, 1, 0],
                                [0, 4, 0, -5, 0, 1]], dtype=torch.float64)  # B^T, (6, 6)
FILTER_TRANSFORM = torch.tensor([[1 / 4, 0, 0],
                                 [-1 / 6, -1 / 6, -1 / 6],
                                 [-1 / 6, 1 / 6, -1 / 6],
                                 [1 / 24, 1 / 12, 1 / 6],
                                 [1 / 24, -1 / 12, 1 / 6],
                                 [0, 0, 1]], dtype=torch.float64)  # G, (6, 3)
OUTPUT_TRANSFORM = torch.tensor([[1, 1, 1, 1, 1, 0],
                                 [0, 1, -1, 2, -2, 0],
                                 [0, 1, 1, 4, 4, 0],
                                 [0, 1, -1, 8, -8, 1]], dtype=torch.float64)  # A^T, (4, 6)
TILE = OUTPUT_TRANSFORM.shape[0]  # outputs per tile side: 4
WINDOW = INPUT_TRANSFORM.shape[0]  # inputs per tile side: TILE + 3 - 1 = 6
ELEMENTS = WINDOW * WINDOW  # products per tile and channel pair: 36
# The point 1 evaluates every output with weight 1 (its column of A^T is all ones), so a
# bias added to the products' element (1, 1) reaches every output once: the grouped
# convolution adds the bias there, and the output transform spreads it.
_POINT_ONE = 1
BIAS_ELEMENT = _POINT_ONE * WINDOW + _POINT_ONE
# The 2-D transforms as one matrix each, applied to a tile's 36 inputs or 36 products in
# row-major order: kron(B^T, B^T) (36, 36) and kron(A^T, A^T) (16, 36), in fp32.
_INPUT_KRON = torch.kron(INPUT_TRANSFORM, INPUT_TRANSFORM).float()
_OUTPUT_KRON = torch.kron(OUTPUT_TRANSFORM, OUTPUT_TRANSFORM).float()
# Training's transposes, laid out once, and the filter transform kron(G, G) (36, 9): a 3x3
# filter's 9 taps, row-major, to its 36 elements.
_INPUT_KRON_T = _INPUT_KRON.t().contiguous()
_OUTPUT_KRON_T = _OUTPUT_KRON.t().contiguous()
_FILTER_KRON = torch.kron(FILTER_TRANSFORM, FILTER_TRANSFORM).float()

# Where the Winograd form runs instead of oneDNN's direct convolution. Measured per
# convolution, with the bias, residual add and ReLU, by bench/bench_winograd.py at 2 threads
# on two CPUs: an AVX512-BF16 EPYC (family 25 model 17; runs 1-4 of
# bench/results/winograd_epyc_avx512bf16.txt; with AVX2 simulated there,
# winograd_avx2_simulated.txt, the gains were alike or larger) and an Intel Xeon with AMX
# (family 6 model 167; runs 1 and 3 of bench/results/winograd_xeon_amx_model167.txt; with
# AVX2 simulated there, the file's last run, every convolution the rule picks gained
# 1.42-2.15x and whole chunks 1.12x and 1.17x). At the paper config's shapes the Xeon's
# direct convolutions run 1.5-1.9x faster than the EPYC's, while its memory reads are slower
# (21-23 against 46-50 GB/s, bench/bench_roofline.py) and the transforms are passes over
# memory: small shapes gain less there. Below the paper config's shapes, the thresholds keep
# direct every shape that ran slower as Winograd on either CPU, and with them some that ran
# up to 1.7x faster on the EPYC. Ratios moved by up to 0.4x between runs of one CPU (0.8x for
# the Xeon's layer 4 below); ranges are EPYC / Xeon; shapes between the measured ones are a
# guess.
# - MIN_CHANNELS input channels or more: ResNet-18's layer 1 (64 channels) at 480x640 ran at
#   0.87-0.97x / 0.66-0.75x with one camera and 0.38-0.40x / 0.28-0.32x with four (its tiles
#   no longer fit the caches); at 60x80 1.08-1.23x / 0.87-0.92x.
# - MIN_MACS direct multiply-adds or more: below it the transforms' passes cost more than the
#   products save, on the Xeon at least. The CPU demo's 96x128 frames, layers 1-3 (under
#   2^26): 0.84-1.04x /
#   0.40-0.57x. Between 2^26 and 2^27, 128 channels at 24x32 and 256 at 12x16 (113 M) ran
#   1.43-1.72x on the EPYC and 0.97-1.03x on the Xeon, 2 images of 128 channels at 15x20
#   (88 M) 1.34-1.47x and 0.83-0.89x: the first rule took 2^26, raised after the Xeon's runs.
#   From 2^27: 128 channels at 30x40 and 256 at 15x20 (177 M) 1.24x and 1.32x on the Xeon
#   (one run; not measured on the EPYC).
# - MIN_TILES tiles or more over the batch: the transformed weight is 4x the filter's bytes,
#   read once per call, and the products of a few tiles do not pay for it (512 channels at
#   6x8, 4 tiles: 0.64-0.73x / 0.63-0.65x; at 3x4, one tile: 0.13-0.20x / 0.35-0.38x; 2
#   cameras at 6x8 and 4 at 4x5, 8 tiles each: 0.98-1.10x and 0.72-0.83x on the EPYC, the
#   file's "cameras" rows, which a first threshold of 8 let through (1.03-1.07x and
#   0.98-1.16x on the Xeon, kept direct for the EPYC's sake); 4 cameras at 8x10, 24
#   tiles: 1.61-1.69x / 1.38-1.56x at 512 channels, 1.16-1.28x / 1.10-1.18x at 256).
# Layers 2-4 of ResNet-18 at 480x640 pass all three (300, 80 and 20 tiles a camera): 1.31-1.99x
# / 0.88-1.78x with one camera (the Xeon's layer 4 at 0.88x in one run, 1.71x in the other),
# 1.16-2.36x / 1.12-1.90x with four; whole chunks 1.10-1.18x / 1.04-1.09x with one camera,
# 1.15-1.17x / 1.10-1.13x with four. No layer at the CPU demo's 96x128 reaches MIN_MACS.
MIN_CHANNELS = 128
MIN_MACS = 1 << 27
MIN_TILES = 12


def tile_grid(height: int, width: int) -> tuple[int, int]:
    """Tiles along (H, W): each covers TILE x TILE outputs; the last ones may overhang."""
    return math.ceil(height / TILE), math.ceil(width / TILE)


# Output channels per float64 block in transform_weight: 32 x 512 input channels x 36 elements
# is 4.7 MB of float64, where a 512-channel layer at once made 75 MB (twice: einsum's result
# and its reshaped copy). What Winograd adds to the paper config's fp32 policy at its peak
# resident memory, over direct convolutions: 349-353 MiB with whole layers, 207-213 with blocks;
# the same weights to the bit (bench/bench_winograd.py --memory on the model-167 Xeon,
# bench/results/winograd_xeon_amx_model167.txt).
_TRANSFORM_BLOCK = 32


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """(C_out, C_in, 3, 3) filters -> (ELEMENTS, C_out, C_in): G g G^T of each filter, one
    (C_out, C_in) matrix per element of the 6x6 tile, computed in float64 and returned in the
    weight's dtype, _TRANSFORM_BLOCK output channels at a time; contiguous, without grad.
    Raises RuntimeError (torch.einsum's) for filters that are not 3x3."""
    g = FILTER_TRANSFORM
    filters = weight.detach()
    out_channels, in_channels = filters.shape[:2]
    u = torch.empty(ELEMENTS, out_channels, in_channels, dtype=filters.dtype)
    for start in range(0, out_channels, _TRANSFORM_BLOCK):
        block = filters[start:start + _TRANSFORM_BLOCK].double()  # (n, C_in, 3, 3)
        n = block.shape[0]
        # einsum's (6, 6, n, C_in) result is strided: copied into u's block as it is, once.
        u[:, start:start + n].view(WINDOW, WINDOW, n, in_channels).copy_(torch.einsum('ai,ocij,bj->aboc', g, block, g))
    return u


def _is_winograd_geometry(conv: nn.Conv2d) -> bool:
    """3x3, stride 1, dilation 1, zero padding 1, one group: what F(4x4, 3x3) computes."""
    return (tuple(conv.kernel_size) == (3, 3) and tuple(conv.stride) == (1, 1) and tuple(conv.dilation) == (1, 1)
            and tuple(conv.padding) == (1, 1) and conv.padding_mode == 'zeros' and conv.groups == 1)


def is_winograd_shape(conv: nn.Conv2d) -> bool:
    """Whether conv is one WinogradConv2d computes: 3x3, stride 1, dilation 1, zero padding 1,
    one group, with a bias (a folded BatchNorm's)."""
    return _is_winograd_geometry(conv) and conv.bias is not None


def _large_enough(conv: nn.Conv2d, input_size: tuple[int, int, int, int], min_tiles: int) -> bool:
    """At least MIN_CHANNELS input channels, MIN_MACS direct multiply-adds and min_tiles tiles,
    both over the batch, for inputs of input_size (N, C_in, H, W)."""
    batch, channels, height, width = input_size
    rows, columns = tile_grid(height, width)
    macs = batch * height * width * channels * conv.out_channels * 9
    return channels >= MIN_CHANNELS and macs >= MIN_MACS and batch * rows * columns >= min_tiles


def conv_kernel(conv: nn.Conv2d, input_size: tuple[int, int, int, int]) -> str:
    """How PackedBackbone runs conv for inputs of input_size (N, C_in, H, W): 'winograd'
    (WinogradConv2d) for an fp32 3x3 stride-1 convolution (is_winograd_shape) with at least
    MIN_CHANNELS input channels, MIN_MACS multiply-adds and MIN_TILES tiles, both over the
    batch (the measurements behind each are at their definitions, from two CPU models at 2
    threads), else 'direct' (onednn.PackedConv2d). A rule, not a timing at start-up: two policies built
    from one checkpoint run the same kernels and command the same actions."""
    if not (is_winograd_shape(conv) and conv.weight.dtype == torch.float32 and onednn_conv_available()):
        return 'direct'
    return 'winograd' if _large_enough(conv, input_size, MIN_TILES) else 'direct'


class WinogradConv2d(nn.Module):
    """A 3x3 stride-1 convolution (with bias) for inference on the CPU, for one input size,
    as F(4x4, 3x3); the same interface as onednn.PackedConv2d (forward with an optional ReLU,
    add_relu) and the same function up to float rounding.

    conv: an fp32 nn.Conv2d of is_winograd_shape; input_size: (N, C_in, H, W), any H and W
    (the last tiles overhang and their extra outputs are dropped). Keeps the weight and bias
    (as attributes) and the transformed weight laid out once for oneDNN (packed_bytes: 4x the
    filter's). Inputs in any memory layout (channels-last is the one that needs no copy);
    outputs dense channels-last. Raises ValueError for any other convolution or dtype, where
    this torch has no oneDNN convolution, and (in forward) for an input of another size or
    dtype."""

    def __init__(self, conv: nn.Conv2d, input_size: tuple[int, int, int, int]):
        super().__init__()
        if not is_winograd_shape(conv):
            raise ValueError('WinogradConv2d computes 3x3 convolutions with stride 1, dilation 1, zero padding 1, one '
                             f'group and a bias; got kernel {tuple(conv.kernel_size)}, stride {tuple(conv.stride)}, '
                             f'dilation {tuple(conv.dilation)}, padding {tuple(conv.padding)} ({conv.padding_mode}), '
                             f'groups {conv.groups}, bias {conv.bias is not None}')
        if conv.weight.dtype != torch.float32:
            raise ValueError('WinogradConv2d runs fp32 only (its transforms lose bf16 precision), '
                             f'got {conv.weight.dtype}')
        if not onednn_conv_available():
            raise ValueError('WinogradConv2d needs oneDNN\'s convolution operators, which this torch build lacks')
        batch, channels, height, width = input_size
        if channels != conv.in_channels:
            raise ValueError(f'WinogradConv2d: input_size {tuple(input_size)} has {channels} channels, the convolution '
                             f'takes {conv.in_channels}')
        self.weight, self.bias = conv.weight, conv.bias  # (C_out, C_in, 3, 3), (C_out,)
        self.input_size = tuple(input_size)
        self.grid = tile_grid(height, width)
        tiles = batch * self.grid[0] * self.grid[1]
        out_channels = conv.out_channels
        u = transform_weight(conv.weight)  # (36, C_out, C_in)
        # Grouped 1x1 convolution: group e maps element e's C_in channels to its C_out ones.
        bias = torch.zeros(ELEMENTS, out_channels, dtype=conv.bias.dtype)
        bias[BIAS_ELEMENT] = conv.bias.detach()
        self.product_bias = bias.reshape(-1)  # (36 * C_out,)
        self.geometry = ([0, 0], [1, 1], [1, 1], ELEMENTS)  # padding, stride, dilation, groups
        self.packed_bytes = u.numel() * u.element_size()  # the transformed weight, 4x the filter's
        # Opaque oneDNN tensor, a plain attribute (as PackedConv2d's).
        self.packed = torch.ops.mkldnn._reorder_convolution_weight(
            u.reshape(ELEMENTS * out_channels, channels, 1, 1), *self.geometry, [1, ELEMENTS * channels, 1, tiles])

    def _outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W), any layout -> (N, 4 * rows, 4 * columns, C_out) NHWC, bias added,
        the overhang not yet dropped."""
        batch, channels, height, width = x.shape
        if (batch, channels, height, width) != self.input_size or x.dtype != torch.float32:
            raise ValueError(f'WinogradConv2d was laid out for fp32 inputs {self.input_size}, got {x.dtype} '
                             f'{tuple(x.shape)}')
        rows, columns = self.grid
        padded_h, padded_w = TILE * rows + 2, TILE * columns + 2
        # (N, H, W, C) -> zero-padded (N, 4 rows + 2, 4 columns + 2, C): 1 before, the rest after.
        padded = F.pad(x.permute(0, 2, 3, 1),
                       (0, 0, 1, padded_w - width - 1, 1, padded_h - height - 1)).contiguous()  # as_strided needs it
        windows = padded.as_strided(  # (N, rows, columns, 6, 6, C): overlapping 6x6 windows, step 4, a view
            (batch, rows, columns, WINDOW, WINDOW, channels),
            (padded_h * padded_w * channels, TILE * padded_w * channels, TILE * channels, padded_w * channels,
             channels, 1))
        tiles = batch * rows * columns
        v = torch.matmul(_INPUT_KRON, windows.reshape(tiles, ELEMENTS, channels))  # (T, 36, C_in)
        image = v.view(1, 1, tiles, ELEMENTS * channels).permute(0, 3, 1, 2)  # (1, 36 C_in, 1, T) channels-last view
        m = torch.ops.mkldnn._convolution_pointwise(image, self.packed, self.product_bias, *self.geometry,
                                                    'none', [], '')  # (1, 36 C_out, 1, T) channels-last
        out_channels = self.weight.shape[0]
        m = m.permute(0, 2, 3, 1).reshape(tiles, ELEMENTS, out_channels)  # (T, 36, C_out), a view
        y = torch.matmul(_OUTPUT_KRON, m)  # (T, 16, C_out)
        y = y.view(batch, rows, columns, TILE, TILE, out_channels)
        y = y.permute(0, 1, 3, 2, 4, 5)  # (N, rows, 4, columns, 4, C_out)
        return y.reshape(batch, TILE * rows, TILE * columns, out_channels)  # (N, 4 rows, 4 columns, C_out), fresh

    def _cropped(self, y: torch.Tensor) -> torch.Tensor:
        """(N, 4 rows, 4 columns, C_out) -> (N, H, W, C_out): the overhanging outputs dropped (a view)."""
        height, width = self.input_size[2:]
        if y.shape[1:3] == (height, width):
            return y
        return y[:, :height, :width]

    def forward(self, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
        """(N, C_in, H, W) fp32 of input_size -> (N, C_out, H, W) dense channels-last, ReLU
        applied when relu."""
        y = self._cropped(self._outputs(x))  # (N, H, W, C_out)
        if relu:
            y = y.relu_() if y.is_contiguous() else torch.relu(y)  # in place on the fresh output when uncropped
        return y.contiguous().permute(0, 3, 1, 2)

    def add_relu(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """relu(conv(x) + residual): x (N, C_in, H, W) of input_size, residual (N, C_out, H, W)
        exactly (no broadcasting) -> (N, C_out, H, W) dense channels-last. Neither input is
        modified."""
        expected = (self.input_size[0], self.weight.shape[0], *self.input_size[2:])
        if tuple(residual.shape) != expected:
            raise ValueError(f'WinogradConv2d.add_relu: residual must be {expected}, got {tuple(residual.shape)}')
        y = torch.add(self._cropped(self._outputs(x)), residual.permute(0, 2, 3, 1))  # (N, H, W, C_out)
        return y.relu_().permute(0, 3, 1, 2)


# --- training ------------------------------------------------------------------------------
#
# The same F(4x4, 3x3) with its backward pass written out, for the folded convolutions of
# ResNet18Features.forward (backbone.conv_bn). Every pass is matrix products over the 36
# elements, a quarter of the direct convolution's multiply-adds:
#   forward          M_e = V_e U_e^T      (tiles x C_in) @ (C_in x C_out), e = 0..35
#   input gradient   dV_e = dM_e U_e      (tiles x C_out) @ (C_out x C_in)
#   weight gradient  dU_e = dM_e^T V_e    (C_out x tiles) @ (tiles x C_in)
# with V = B^T d B (the input windows), U = G g G^T (the filters, from the weight at every
# call: it trains), dM = A dY A^T (the output gradient, the output transform's transpose),
# dg = G^T dU G and dd = B dV B^T added back over the overlapping windows. The products are
# torch.bmm over an element-major (36, tiles, C) layout, the transforms plain matrix
# products over all tiles at once. Inference's kernel for the products, oneDNN's grouped 1x1
# convolution, ran its backward 4-11x slower than its forward at batch 8 (torch.profiler over
# a scratch script; bench/results/training_scratch_epyc_avx512bf16_model17.txt).
#
# Where it runs: inference's thresholds on channels and multiply-adds, and TRAINING_MIN_TILES
# tiles over the batch instead of MIN_TILES. Each training call transforms the weight (and
# its gradient back) and reads it twice more, so the products of few tiles pay less for it
# than at inference. Forward and backward of one convolution, direct against Winograd, at
# batch 8 unless said, the allocator as the trainer sets it, medians of three alternating
# runs on the AVX512-BF16 EPYC (family 25 model 17, 2 threads;
# bench/results/winograd_training_epyc_avx512bf16_model17.txt, `bench_winograd.py --training`,
# its first run, at 4580e93):
# - 128 tiles and more: the paper config's layers 2-4, 128 channels at 60x80 (2400 tiles)
#   1.41x, 256 at 30x40 (640) 1.65x, 512 at 15x20 (160) 1.79x; 128 at 24x32 (384) 1.03x;
#   batch 2, 256 at 30x40 (160) 1.18x.
# - under 128 tiles, mixed: 80 tiles 1.33x (512 at 15x20, batch 4), 96 tiles 1.12x (256 at
#   12x16) and 1.09x (the CPU demo's 128 at 12x16; 0.83x at 987aadf, whose weight transform
#   made one more copy), 48 tiles 0.88x, 40 tiles 0.98x, the CPU demo's 256 at 6x8 (32)
#   0.57x and 512 at 3x4 (8) 0.37x. The threshold sits above the demo's largest call (96
#   tiles): the demo trains with direct convolutions, as its success was measured, and some
#   shapes under it that would gain stay direct too (the paper config at batch 4).
# - layer 1 (64 channels at 120x160): 1.08x (MIN_CHANNELS keeps it direct). On a real
#   AVX2-only EPYC (family 25 model 1) it ran 1.51x and 1.65x alone (1.46-1.85x from 2400
#   tiles up; bench/results/training_scratch_epyc_avx2_model1.txt and
#   winograd_training_epyc_avx2_model1.txt), yet whole paper-config steps with it as
#   Winograd ran 0.99x (three alternating rounds, in the scratch file): inside the step its
#   transforms and products, on 88 MB of transformed input a call, took about as long as the
#   direct convolution. So it stays direct there too.
TRAINING_MIN_TILES = 128
# Set by direct_training_convolutions (bench/bench_winograd.py's A/B of whole steps).
_training_enabled = True


@contextlib.contextmanager
def direct_training_convolutions():
    """Within it, training_conv_kernel answers 'direct' for every convolution (not thread-safe:
    for one training process's A/B)."""
    global _training_enabled
    previous, _training_enabled = _training_enabled, False
    try:
        yield
    finally:
        _training_enabled = previous


def training_conv_kernel(conv: nn.Conv2d, x: torch.Tensor) -> str:
    """How backbone.conv_bn runs conv on x (N, C_in, H, W) in the training forward:
    'winograd' (winograd_conv2d) for an fp32 CPU input outside autocast, a 3x3 stride-1
    convolution (is_winograd_shape, less the bias: training adds the folded one), at least
    MIN_CHANNELS input channels and MIN_MACS multiply-adds as at inference, and
    TRAINING_MIN_TILES tiles over the batch; else 'direct' (F.conv2d). Grad mode does not
    matter: validation's forward runs the same kernels."""
    if (not _training_enabled or x.device.type != 'cpu' or x.dtype != torch.float32
            or conv.weight.dtype != torch.float32 or torch.is_autocast_enabled('cpu')):
        return 'direct'
    fits = _is_winograd_geometry(conv) and _large_enough(conv, tuple(x.shape), TRAINING_MIN_TILES)
    return 'winograd' if fits else 'direct'


def transform_weight_fp32(weight: torch.Tensor) -> torch.Tensor:
    """(C_out, C_in, 3, 3) fp32 -> (ELEMENTS, C_out, C_in) fp32, G g G^T of each filter as one
    matrix product in fp32 (training's, at every call; transform_weight is the float64 one
    inference lays out once). Differentiable; contiguous."""
    out_channels, in_channels = weight.shape[:2]
    taps = weight.contiguous().view(out_channels * in_channels, 9)  # (C_out C_in, 9)
    return torch.mm(_FILTER_KRON, taps.t()).view(ELEMENTS, out_channels, in_channels)  # (36, C_out C_in) row-major


class _WinogradConvFunction(torch.autograd.Function):
    """F(4x4, 3x3) forward and backward (the comment above); see winograd_conv2d."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """x (N, C_in, H, W), u (36, C_out, C_in), bias (C_out,) or None -> (N, H, W, C_out)."""
        batch, channels, height, width = x.shape
        out_channels = u.shape[1]
        rows, columns = tile_grid(height, width)
        tiles = batch * rows * columns
        padded_h, padded_w = TILE * rows + 2, TILE * columns + 2
        # (N, H, W, C) -> zero-padded (N, 4 rows + 2, 4 columns + 2, C), 1 before, the rest after.
        padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, padded_w - width - 1, 1, padded_h - height - 1))
        padded = padded.contiguous()  # as_strided needs it
        windows = padded.as_strided(  # (6, 6, N, rows, columns, C): element-major view of the windows
            (WINDOW, WINDOW, batch, rows, columns, channels),
            (padded_w * channels, channels, padded_h * padded_w * channels, TILE * padded_w * channels,
             TILE * channels, 1))
        v = torch.mm(_INPUT_KRON, windows.reshape(ELEMENTS, tiles * channels)).view(ELEMENTS, tiles, channels)
        m = torch.bmm(v, u.transpose(1, 2))  # (36, T, C_out)
        y = torch.mm(_OUTPUT_KRON, m.view(ELEMENTS, tiles * out_channels))  # (16, T C_out)
        y = y.view(TILE, TILE, batch, rows, columns, out_channels).permute(2, 3, 0, 4, 1, 5)
        y = y.reshape(batch, TILE * rows, TILE * columns, out_channels)  # (N, 4 rows, 4 columns, C_out), fresh
        if y.shape[1:3] != (height, width):
            y = y[:, :height, :width]
        y = y.contiguous() if bias is None else torch.add(y, bias)  # (N, H, W, C_out), dense
        ctx.save_for_backward(v, u)
        ctx.input_size = (batch, channels, height, width)
        # NHWC, fresh: winograd_conv2d makes it NCHW-shaped outside the Function, so that
        # autograd sees that view and callers may apply in-place ops (a ReLU) to it.
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable  # v was computed without a graph: no second derivatives
    def backward(ctx, grad: torch.Tensor):
        v, u = ctx.saved_tensors  # (36, T, C_in), (36, C_out, C_in)
        batch, channels, height, width = ctx.input_size
        out_channels = u.shape[1]
        rows, columns = tile_grid(height, width)
        tiles = batch * rows * columns
        g = grad  # (N, H, W, C_out)
        grad_bias = g.sum((0, 1, 2)) if ctx.needs_input_grad[2] else None  # False without a bias
        if (TILE * rows, TILE * columns) != (height, width):  # the overhang's outputs were dropped: zero gradient
            g = F.pad(g, (0, 0, 0, TILE * columns - width, 0, TILE * rows - height))
        g = g.reshape(batch, rows, TILE, columns, TILE, out_channels).permute(2, 4, 0, 1, 3, 5)
        dm = torch.mm(_OUTPUT_KRON_T, g.reshape(TILE * TILE, tiles * out_channels))
        dm = dm.view(ELEMENTS, tiles, out_channels)  # (36, T, C_out)
        grad_u = torch.bmm(dm.transpose(1, 2), v) if ctx.needs_input_grad[1] else None  # (36, C_out, C_in)
        grad_x = None
        if ctx.needs_input_grad[0]:
            dv = torch.bmm(dm, u)  # (36, T, C_in)
            d_windows = torch.mm(_INPUT_KRON_T, dv.view(ELEMENTS, tiles * channels))
            d_windows = d_windows.view(WINDOW, WINDOW, batch, rows, columns, channels)
            # The windows overlap by 2: a window's rows 0-3 are its own tile's, 4-5 the next
            # tile's first two (columns alike), so four strided adds put them back.
            acc = d_windows.new_zeros(batch, rows + 1, TILE, columns + 1, TILE, channels)
            for first, last, row_shift in ((0, TILE, 0), (TILE, WINDOW, 1)):
                for left, right, column_shift in ((0, TILE, 0), (TILE, WINDOW, 1)):
                    acc[:, row_shift:row_shift + rows, :last - first, column_shift:column_shift + columns,
                        :right - left] += d_windows[first:last, left:right].permute(2, 3, 0, 4, 1, 5)
            full = acc.view(batch, TILE * (rows + 1), TILE * (columns + 1), channels)
            grad_x = full[:, 1:height + 1, 1:width + 1].contiguous().permute(0, 3, 1, 2)  # drop the padding
        return grad_x, grad_u, grad_bias


def winograd_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """F.conv2d(x, weight, bias, padding=1) as F(4x4, 3x3), differentiable in all three.
    x: (N, C_in, H, W) fp32, any layout; weight: (C_out, C_in, 3, 3); bias: (C_out,) or None.
    Returns (N, C_out, H, W) dense channels-last; the input gradient comes back dense
    channels-last too. Saves the transformed input (36/16 = 2.25x the input's bytes, rounded
    up to whole tiles) and the transformed weight for the backward pass, where a direct
    convolution saves the input. Outputs and gradients are within about 1e-5 of their
    largest value of a float64 convolution's (test_training_winograd.py)."""
    return _WinogradConvFunction.apply(x, transform_weight_fp32(weight), bias).permute(0, 3, 1, 2)
