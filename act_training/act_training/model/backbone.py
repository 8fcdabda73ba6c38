"""The image backbone: torchvision's ResNet-18 up to layer4 (stride 32, 512 channels), with
BatchNorm frozen (its statistics are those of the initial weights, as in DETR and ACT: the
batches of one robot's episodes are too small and too alike to estimate them).

Departure (ModelConfig.backbone_norm = 'group_norm'): a frozen BatchNorm holds the
statistics of the weights it came with. From ImageNet weights that is a real
normalization; from random init it is the identity, and the backbone trains as a
17-layer network with no normalization at all. For from-scratch training GroupNorm
(16 channels per group, as Diffusion Policy and robomimic do for the same reason)
replaces it; its affine parameters train, and it does not depend on the batch.

A frozen BatchNorm after a convolution is an affine map per channel, so each conv + BN
pair runs as one convolution with the BN folded into its weights and bias. In training the
fold is recomputed from the parameters at every forward (a cost of the size of the
weights, not of the activations), so gradients reach the convolution weights unchanged
while the two passes over every activation map that BN takes, forward and backward, are
gone. Inference folds once (fold_frozen_batchnorm).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from act_common.errors import ActError
from act_training.config import BACKBONE_NORMS
from act_training.model.winograd import training_conv_kernel, winograd_conv2d

FEATURE_CHANNELS = 512
STRIDE = 32


class BackboneWeightsError(ActError, RuntimeError):
    """Backbone weights were asked for but cannot be loaded; never falls back to random init."""


GROUP_NORM_CHANNELS_PER_GROUP = 16


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(channels // GROUP_NORM_CHANNELS_PER_GROUP, channels)


class ResNet18Features(nn.Module):
    """(B, 3, H, W) normalized images -> (B, 512, ceil(H/s), ceil(W/s)) features, s =
    self.stride: 32, or 16 with dilate_last_stage.

    norm: one of BACKBONE_NORMS. Attribute names match torchvision's ResNet, so its state
    dicts load unchanged (with frozen_batchnorm)."""

    def __init__(self, norm: str = 'frozen_batchnorm', dilate_last_stage: bool = False):
        super().__init__()
        if norm not in BACKBONE_NORMS:
            raise ValueError(f'backbone norm must be one of {BACKBONE_NORMS}, got {norm!r}')
        self.norm = norm
        norm_layer = FrozenBatchNorm2d if norm == 'frozen_batchnorm' else _group_norm
        net = torchvision.models.resnet18(weights=None, norm_layer=norm_layer)
        self.conv1, self.bn1, self.maxpool = net.conv1, net.bn1, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.stride = STRIDE
        if dilate_last_stage:
            _dilate_last_stage(self.layer4)
            self.stride = STRIDE // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """torchvision's ResNet.forward up to layer4, and BasicBlock.forward, with each
        conv + frozen BN as one convolution, and the stem's ReLU after its max pool.

        relu(maxpool(y)) equals maxpool(relu(y)) value for value (both are monotone, so the
        window's largest value maps to the largest after ReLU), and their gradients are the
        same: both reach the window's first largest input where it is positive, and nothing
        where it is not. After the pool the ReLU and its backward pass run over a quarter of
        the stem's output. Measured at batch 8 and 480x640 on the AVX512-BF16 AMD EPYC: the
        ReLU's backward over the stem's output (8 x 64 x 240 x 320) took 218-233 ms of a
        5.7 s step, after the pool 24 ms (torch.profiler;
        bench/results/training_scratch_epyc_avx512bf16_model17.txt)."""
        x = F.relu(self.maxpool(conv_bn(x, self.conv1, self.bn1)), inplace=True)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in layer:
                shortcut = x if block.downsample is None else conv_bn(x, *block.downsample)
                out = F.relu(conv_bn(x, block.conv1, block.bn1), inplace=True)
                x = F.relu(conv_bn(out, block.conv2, block.bn2) + shortcut, inplace=True)
        return x


def _dilate_last_stage(layer4: nn.Sequential) -> None:
    """DETR's dilated C5 (torchvision's replace_stride_with_dilation, which torchvision
    refuses for ResNet-18's BasicBlock): layer4 keeps stride 16 instead of 32, and the
    3x3 convolutions after its first take dilation 2 so their receptive field is kept.
    The weights' shapes do not change."""
    first = layer4[0]
    first.conv1.stride = (1, 1)
    first.downsample[0].stride = (1, 1)
    for conv in (first.conv2, *(c for block in layer4[1:] for c in (block.conv1, block.conv2))):
        conv.dilation, conv.padding = (2, 2), (2, 2)


def folded_conv_parameters(conv: nn.Conv2d, bn: FrozenBatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of the one convolution equal to conv then bn:
    w' = w * g / sqrt(v + eps), b' = beta + (b - m) * g / sqrt(v + eps). Differentiable in w."""
    scale = bn.weight * (bn.running_var + bn.eps).rsqrt()  # (C_out,)
    conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.bias)
    return conv.weight * scale[:, None, None, None], bn.bias + (conv_bias - bn.running_mean) * scale


def conv_bn(x: torch.Tensor, conv: nn.Conv2d, bn: nn.Module) -> torch.Tensor:
    """conv then bn, as one convolution; bn is a FrozenBatchNorm2d, or nn.Identity once
    fold_frozen_batchnorm has moved it into conv. A GroupNorm depends on the activations
    and is applied after the convolution."""
    if isinstance(bn, nn.Identity):
        return conv(x)
    if isinstance(bn, nn.GroupNorm):
        return bn(_training_conv(x, conv, conv.weight, conv.bias))
    weight, bias = folded_conv_parameters(conv, bn)
    return _training_conv(x, conv, weight, bias)


def _training_conv(x: torch.Tensor, conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """conv's geometry with this weight and bias: as Winograd F(4x4, 3x3) where
    winograd.training_conv_kernel says so (fp32 on the CPU, the paper config's layers 2-4),
    else F.conv2d."""
    if training_conv_kernel(conv, x) == 'winograd':
        return winograd_conv2d(x, weight, bias)
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def conv_input_sizes(backbone: nn.Module, input_size: tuple[int, int, int, int]) -> dict[nn.Conv2d, tuple[int, ...]]:
    """The input size (N, C, H, W) of each convolution of backbone for an input of
    input_size, from one forward of zeros (channels-last, the backbone's dtype)."""
    sizes: dict[nn.Conv2d, tuple[int, ...]] = {}

    def record(module: nn.Module, args: tuple) -> None:  # None: the call's arguments stay
        sizes[module] = tuple(args[0].shape)

    handles = [module.register_forward_pre_hook(record) for module in backbone.modules()
               if isinstance(module, nn.Conv2d)]
    parameter = next(backbone.parameters())
    try:
        with torch.no_grad():
            backbone(torch.zeros(input_size, dtype=parameter.dtype).contiguous(memory_format=torch.channels_last))
    finally:
        for handle in handles:
            handle.remove()
    return sizes


def feature_map_size(height: int, width: int, stride: int = STRIDE) -> tuple[int, int]:
    """Spatial size after the stem and the stride-2 stages (each rounds up); stride 16
    with the last stage dilated."""
    return math.ceil(height / stride), math.ceil(width / stride)


def imagenet_cache_path() -> Path:
    """Where torchvision keeps the ResNet-18 ImageNet weights once downloaded."""
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / 'checkpoints' / url.rsplit('/', 1)[-1]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file

        return load_file(str(path))
    # weights_only: a .pth is a pickle; this refuses anything but plain tensors.
    state = torch.load(str(path), map_location='cpu', weights_only=True)
    if isinstance(state, dict) and 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    if not isinstance(state, dict):
        raise BackboneWeightsError(f'{path}: expected a ResNet-18 state dict, got {type(state).__name__}')
    return state


def load_backbone_weights(backbone: ResNet18Features, weights: str) -> str:
    """Initializes the backbone as `weights` says ('none', 'imagenet' or a file path) and
    returns a line describing what was loaded."""
    if weights == 'none':
        return f'backbone: random init (backbone_weights=none, {backbone.norm})'
    if backbone.norm != 'frozen_batchnorm':
        raise BackboneWeightsError(
            f'model.backbone_weights={weights} holds BatchNorm statistics, which model.backbone_norm={backbone.norm} '
            'has no place for: use backbone_norm=frozen_batchnorm with pretrained weights')
    if weights == 'imagenet':
        path = imagenet_cache_path()
        if not path.is_file():
            raise BackboneWeightsError(
                f'backbone_weights=imagenet needs torchvision\'s ResNet-18 ImageNet weights at {path}, which is '
                f'not there (they are never downloaded here). Copy {path.name} there, or set '
                'model.backbone_weights=<path to a ResNet-18 state dict (.pth or .safetensors)>, or '
                'model.backbone_weights=none to train the backbone from random init.')
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise BackboneWeightsError(f'model.backbone_weights: file {path} does not exist (expected none, imagenet or a file path)')
    try:
        state = _read_state_dict(path)
    except BackboneWeightsError:
        raise
    except Exception as error:  # corrupt file, not a state dict: say which file
        raise BackboneWeightsError(f'{path}: cannot read ResNet-18 weights: {error}') from error
    state = {key: value for key, value in state.items()
             if not key.startswith('fc.') and not key.endswith('num_batches_tracked')}
    expected = set(backbone.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise BackboneWeightsError(f'{path}: not a ResNet-18 state dict: missing {missing[:5]}, unexpected {unexpected[:5]}')
    try:
        backbone.load_state_dict(state, strict=True)
    except RuntimeError as error:  # shape mismatch
        raise BackboneWeightsError(f'{path}: ResNet-18 weights do not fit: {error}') from error
    return f'backbone: ResNet-18 weights from {path}'


def fold_frozen_batchnorm(backbone: ResNet18Features) -> nn.Module:
    """An inference-only copy whose convolutions hold the frozen BatchNorm that follows them
    (folded_conv_parameters, computed once instead of at every forward); same function up
    to float rounding."""
    import copy

    folded = copy.deepcopy(backbone).eval()
    if backbone.norm != 'frozen_batchnorm':  # nothing to fold: GroupNorm depends on the input
        for parameter in folded.parameters():
            parameter.requires_grad_(False)
        return folded

    def fold(conv: nn.Conv2d, bn: FrozenBatchNorm2d) -> nn.Conv2d:
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, conv.dilation, conv.groups, bias=True)
        with torch.no_grad():
            weight, bias = folded_conv_parameters(conv, bn)
            fused.weight.copy_(weight)
            fused.bias.copy_(bias)
        return fused

    folded.conv1, folded.bn1 = fold(folded.conv1, folded.bn1), nn.Identity()
    for layer in (folded.layer1, folded.layer2, folded.layer3, folded.layer4):
        for block in layer:
            block.conv1, block.bn1 = fold(block.conv1, block.bn1), nn.Identity()
            block.conv2, block.bn2 = fold(block.conv2, block.bn2), nn.Identity()
            if block.downsample is not None:
                block.downsample = nn.Sequential(fold(block.downsample[0], block.downsample[1]), nn.Identity())
    for parameter in folded.parameters():
        parameter.requires_grad_(False)
    return folded


class PackedBackbone(nn.Module):
    """Inference on the CPU: a folded backbone (fold_frozen_batchnorm) run as oneDNN
    convolutions (onednn.PackedConv2d) laid out once for its one input size, with each
    ReLU, and each block's residual add and ReLU, inside the convolution before it. Same
    function as the folded backbone up to float rounding.

    Why: eager mode makes a separate pass over the activations for every ReLU and residual
    add, and lays the weights out inside every convolution call. Measured per chunk by
    bench/bench_packed_backbone.py on the model-167 Xeon (2 threads): the CPU demo's model
    (96x128) from 9.7 to 7.6 ms in fp32 and from 7.2 to 4.4 ms in bf16; the paper config's
    (480x640) from 36.3 to 31.1 ms in bf16 and from 116.6 to 111.9 ms in fp32, where the
    convolutions' arithmetic dominates.

    Where winograd.conv_kernel says so (fp32; ResNet-18's layers 2-4 at the paper config's
    480x640), a 3x3 convolution runs as winograd.WinogradConv2d instead: 4x fewer
    multiply-adds, outputs within 1-2e-5 of their largest value, and 4x the weight bytes (the
    paper config: 149 MB of transformed weights for its nine Winograd layers where direct
    ones hold 37 MB). set_winograd(False) switches them back to direct convolutions (for
    measurement).

    input_size: (N, 3, H, W), N = cameras x batch. Raises ValueError for a backbone that
    is not folded (GroupNorm, or frozen BatchNorm still in place): see packs(). """

    def __init__(self, folded: ResNet18Features, input_size: tuple[int, int, int, int]):
        super().__init__()
        from act_training.model.onednn import PackedConv2d
        from act_training.model.winograd import WinogradConv2d, conv_kernel

        if not PackedBackbone.packs(folded):
            raise ValueError('PackedBackbone needs a backbone with frozen BatchNorm folded into its convolutions '
                             '(fold_frozen_batchnorm)')
        sizes = conv_input_sizes(folded, input_size)

        def pack(conv: nn.Conv2d) -> nn.Module:
            if conv_kernel(conv, sizes[conv]) == 'winograd':
                return WinogradConv2d(conv, sizes[conv])
            return PackedConv2d(conv, sizes[conv])

        self.stem = pack(folded.conv1)
        self.maxpool = folded.maxpool
        self.blocks = nn.ModuleList()
        self._winograd = []  # (packed block, attribute, its WinogradConv2d, the folded convolution it came from)
        for layer in (folded.layer1, folded.layer2, folded.layer3, folded.layer4):
            for block in layer:
                packed = nn.Module()
                packed.conv1, packed.conv2 = pack(block.conv1), pack(block.conv2)
                packed.downsample = pack(block.downsample[0]) if block.downsample is not None else None
                self.blocks.append(packed)
                self._winograd += [(packed, name, getattr(packed, name), getattr(block, name))
                                   for name in ('conv1', 'conv2') if isinstance(getattr(packed, name), WinogradConv2d)]
        self.input_size = tuple(input_size)
        self.stride = folded.stride

    @property
    def winograd_count(self) -> int:
        """How many convolutions conv_kernel chose to run as Winograd F(4x4, 3x3)."""
        return len(self._winograd)

    @property
    def winograd_enabled(self) -> bool:
        """Whether those convolutions run as Winograd now (set_winograd)."""
        return all(getattr(block, name) is winograd for block, name, winograd, _ in self._winograd)

    def set_winograd(self, enabled: bool) -> None:
        """Runs the convolutions conv_kernel chose for Winograd as their WinogradConv2d
        (enabled, as built) or as direct PackedConv2d of the same folded convolutions, laid
        out at the switch and dropped at the switch back. For measurement:
        bench/bench_winograd.py's A/B, and bench/bench_roofline.py, which counts the
        network's arithmetic as the direct convolutions do it."""
        from act_training.model.onednn import PackedConv2d

        for block, name, winograd, conv in self._winograd:
            setattr(block, name, winograd if enabled else PackedConv2d(conv, winograd.input_size))

    @staticmethod
    def packs(folded: nn.Module) -> bool:
        """Whether folded is a backbone PackedBackbone can run: every convolution with its
        BatchNorm folded in (fold_frozen_batchnorm of a frozen_batchnorm backbone)."""
        return (isinstance(folded, ResNet18Features) and folded.norm == 'frozen_batchnorm'
                and all(isinstance(module, nn.Identity) for name, module in folded.named_modules()
                        if name.rsplit('.', 1)[-1].startswith('bn') or name.endswith('downsample.1')))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) channels-last normalized images, N and H, W those of input_size ->
        (N, 512, ceil(H/s), ceil(W/s)) features, as ResNet18Features.forward."""
        x = self.maxpool(self.stem(x, relu=True))
        for block in self.blocks:
            shortcut = x if block.downsample is None else block.downsample(x)
            x = block.conv2.add_relu(block.conv1(x, relu=True), shortcut)
        return x

