"""Winograd F(4x4, 3x3) convolutions for CPU inference (act_training.model.winograd): the
transforms compute a correlation, the layer equals a direct convolution up to float
rounding at any size, the rule that picks it, and PackedBackbone running it."""

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from training_episodes import randomized_folded_backbone

from act_training.model import onednn, winograd
from act_training.model.backbone import PackedBackbone
from act_training.model.winograd import WinogradConv2d, conv_kernel

needs_onednn = pytest.mark.skipif(not onednn.onednn_conv_available(),
                                  reason='oneDNN fused convolutions are not in this torch')


def test_transforms_compute_a_correlation():
    generator = torch.Generator().manual_seed(0)
    d = torch.randn(6, 6, dtype=torch.float64, generator=generator)  # one 6x6 input window
    g = torch.randn(3, 3, dtype=torch.float64, generator=generator)  # one 3x3 filter
    b_t, a_t, g_t = winograd.INPUT_TRANSFORM, winograd.OUTPUT_TRANSFORM, winograd.FILTER_TRANSFORM
    y = a_t @ ((g_t @ g @ g_t.T) * (b_t @ d @ b_t.T)) @ a_t.T  # (4, 4)
    expected = torch.tensor([[float((d[i:i + 3, j:j + 3] * g).sum()) for j in range(4)] for i in range(4)],
                            dtype=torch.float64)
    torch.testing.assert_close(y, expected, atol=1e-12, rtol=0)
    # The bias element: the output transform weighs it 1 into every output.
    spread = torch.zeros(36, dtype=torch.float64)
    spread[winograd.BIAS_ELEMENT] = 1.0
    torch.testing.assert_close(a_t @ spread.reshape(6, 6) @ a_t.T, torch.ones(4, 4, dtype=torch.float64))


def test_transform_weight_in_blocks_is_the_whole_transform():
    """transform_weight works through the output channels in blocks (to bound its float64
    temporaries); the result is G g G^T of every filter at once, to the bit, also where the
    last block is partial."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(winograd._TRANSFORM_BLOCK + 8, 5, 3, 3, generator=generator)
    g = winograd.FILTER_TRANSFORM
    whole = torch.einsum('ai,ocij,bj->aboc', g, weight.double(), g).reshape(36, *weight.shape[:2]).float()
    assert torch.equal(winograd.transform_weight(weight), whole)


def _conv(in_channels, out_channels, seed=0):
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(in_channels, out_channels, 3, padding=1).eval()
    with torch.no_grad():
        conv.bias.uniform_(-0.5, 0.5)
    return conv


@needs_onednn
@pytest.mark.parametrize('size, out_channels', [
    ((1, 16, 8, 12), 16),  # whole tiles
    ((2, 8, 13, 7), 24),  # overhanging tiles on both axes, batch 2, C_in != C_out
    ((1, 32, 3, 5), 8),  # smaller than one tile
])
def test_winograd_conv_is_the_direct_convolution(size, out_channels):
    conv = _conv(size[1], out_channels)
    layer = WinogradConv2d(conv, size)
    x = torch.randn(size).contiguous(memory_format=torch.channels_last)
    residual = torch.randn(size[0], out_channels, *size[2:]).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = F.conv2d(x, conv.weight, conv.bias, padding=1)
        outputs = {'plain': (layer(x), reference), 'relu': (layer(x, relu=True), F.relu(reference)),
                   'add_relu': (layer.add_relu(x, residual), F.relu(reference + residual))}
    for name, (out, expected) in outputs.items():
        assert out.shape == expected.shape, name
        assert out.is_contiguous(memory_format=torch.channels_last), name
        torch.testing.assert_close(out, expected, atol=1e-5 * float(expected.abs().max()), rtol=1e-5, msg=name)
    assert float((outputs['plain'][0] - reference).abs().max()) > 0  # a different summation, not the same kernel
    # Any input layout: NCHW-contiguous gives the same outputs.
    with torch.no_grad():
        torch.testing.assert_close(layer(x.contiguous()), outputs['plain'][0], atol=0, rtol=0)


@needs_onednn
@pytest.mark.parametrize('size', [(1, 256, 30, 40), (1, 512, 15, 20)])  # ResNet-18's layers 3 and 4 at 480x640
def test_winograd_error_at_the_paper_configs_channels(size):
    """The transforms cost precision, the more the more channels sum: against a float64
    convolution the bound the module's docstring gives, 3e-5 of the largest output."""
    conv = _conv(size[1], size[1])
    x = torch.randn(size).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        exact = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1)
        winograd_error = float((WinogradConv2d(conv, size)(x).double() - exact).abs().max())
        direct_error = float((F.conv2d(x, conv.weight, conv.bias, padding=1).double() - exact).abs().max())
    scale = float(exact.abs().max())
    assert winograd_error < 3e-5 * scale
    assert direct_error < winograd_error  # what fp32's direct convolution gets (2-3e-6 of the largest)


@needs_onednn
def test_winograd_conv_refuses_what_it_does_not_compute():
    for conv in (torch.nn.Conv2d(8, 8, 3, stride=2, padding=1), torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2),
                 torch.nn.Conv2d(8, 8, 3, padding=1, bias=False), torch.nn.Conv2d(8, 8, 1),
                 torch.nn.Conv2d(8, 8, 3, padding=1, groups=2),
                 torch.nn.Conv2d(8, 8, 3, padding=1, padding_mode='reflect')):
        with pytest.raises(ValueError, match='3x3 convolutions with stride 1, dilation 1, zero padding 1'):
            WinogradConv2d(conv, (1, 8, 16, 16))
    with pytest.raises(ValueError, match='fp32 only'):
        WinogradConv2d(_conv(8, 8).to(torch.bfloat16), (1, 8, 16, 16))
    with pytest.raises(ValueError, match='has 4 channels'):
        WinogradConv2d(_conv(8, 8), (1, 4, 16, 16))
    layer = WinogradConv2d(_conv(8, 8), (1, 8, 16, 16))
    with pytest.raises(ValueError, match=r'laid out for fp32 inputs \(1, 8, 16, 16\)'):
        layer(torch.randn(1, 8, 16, 20).contiguous(memory_format=torch.channels_last))
    with pytest.raises(ValueError, match='torch.bfloat16'):
        layer(torch.randn(1, 8, 16, 16, dtype=torch.bfloat16))
    with pytest.raises(ValueError, match=r'residual must be \(1, 8, 16, 16\)'):
        layer.add_relu(torch.randn(1, 8, 16, 16), torch.randn(1, 8, 1, 1))  # would broadcast


def test_without_onednn_convolutions_nothing_is_winograd(monkeypatch):
    monkeypatch.setattr(winograd, 'onednn_conv_available', lambda: False)
    conv = _conv(128, 128)
    assert conv_kernel(conv, (1, 128, 60, 80)) == 'direct'
    with pytest.raises(ValueError, match='oneDNN'):
        WinogradConv2d(conv, (1, 128, 60, 80))


@needs_onednn
def test_conv_kernel_picks_winograd_for_the_paper_configs_large_layers_only():
    convs = {channels: _conv(channels, channels) for channels in (64, 128, 256, 512)}
    # ResNet-18's 3x3 stride-1 inputs at 480x640 (1 camera): layer 1 stays direct (64 channels).
    paper = {64: (120, 160), 128: (60, 80), 256: (30, 40), 512: (15, 20)}
    assert {c: conv_kernel(convs[c], (1, c, *hw)) for c, hw in paper.items()} == {
        64: 'direct', 128: 'winograd', 256: 'winograd', 512: 'winograd'}
    # The CPU demo's 96x128 frames: every layer below MIN_MACS.
    demo = {64: (24, 32), 128: (12, 16), 256: (6, 8), 512: (3, 4)}
    assert {conv_kernel(convs[c], (1, c, *hw)) for c, hw in demo.items()} == {'direct'}
    # Each threshold on its own.
    assert conv_kernel(convs[128], (1, 128, 24, 32)) == 'direct'  # 113 M multiply-adds < MIN_MACS, 48 tiles
    assert conv_kernel(convs[128], (2, 128, 15, 20)) == 'direct'  # 88 M < MIN_MACS, 40 tiles
    assert conv_kernel(convs[128], (1, 128, 30, 40)) == 'winograd'  # 177 M, 80 tiles
    assert conv_kernel(convs[512], (1, 512, 8, 10)) == 'direct'  # 189 M but 6 tiles < MIN_TILES
    assert conv_kernel(convs[512], (2, 512, 6, 8)) == 'direct'  # 8 tiles over 2 cameras
    assert conv_kernel(convs[512], (3, 512, 6, 8)) == 'winograd'  # 12
    assert conv_kernel(convs[512], (1, 512, 12, 16)) == 'winograd'  # 12 tiles in one image
    # Never in bf16, never for a dilated, strided or bias-free convolution.
    assert conv_kernel(_conv(128, 128).to(torch.bfloat16), (1, 128, 60, 80)) == 'direct'
    for conv in (torch.nn.Conv2d(128, 128, 3, padding=2, dilation=2), torch.nn.Conv2d(128, 128, 3, stride=2, padding=1),
                 torch.nn.Conv2d(128, 128, 3, padding=1, bias=False)):
        assert conv_kernel(conv, (1, 128, 60, 80)) == 'direct'


@needs_onednn
def test_packed_backbone_runs_winograd_where_the_rule_says_and_stays_the_folded_backbone():
    folded = randomized_folded_backbone(6)
    # 240x320: layer 2 (30x40, 128 channels) and layer 3 (15x20) pass the rule; layer 4 (8x10,
    # 6 tiles) and layer 1 (64 channels) do not.
    size = (1, 3, 240, 320)
    packed = PackedBackbone(folded, size)
    kinds = [type(getattr(block, name)).__name__ for block in packed.blocks for name in ('conv1', 'conv2')]
    # Blocks 0-1 layer 1, 2-3 layer 2 (block 2's conv1 has stride 2), 4-5 layer 3, 6-7 layer 4.
    direct, winograd = 'PackedConv2d', 'WinogradConv2d'
    assert kinds == [direct] * 5 + [winograd] * 3 + [direct] + [winograd] * 3 + [direct] * 4
    assert packed.winograd_count == 6 and packed.winograd_enabled
    x = torch.randn(size).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = folded(x)
        out = packed(x)
        packed.set_winograd(False)
        assert not packed.winograd_enabled
        direct = packed(x)
        counter = onednn.flop_counter()
        with counter:
            packed(x)
        packed.set_winograd(True)
        assert packed.winograd_enabled
        again = packed(x)
        winograd_counter = onednn.flop_counter()
        with winograd_counter:
            packed(x)
        eager = onednn.flop_counter()
        with eager:
            folded(x)
    scale = float(reference.abs().max())
    torch.testing.assert_close(out, reference, atol=1e-4 * scale, rtol=1e-4)
    torch.testing.assert_close(direct, reference, atol=1e-4 * scale, rtol=1e-4)
    assert torch.equal(out, again)  # switching back restores the same kernels
    assert float((out - direct).abs().max()) > 0  # the switch really changed the kernels
    # Direct: the network's arithmetic, as the eager backbone counts it; Winograd: fewer products.
    assert counter.get_total_flops() == eager.get_total_flops() > winograd_counter.get_total_flops()
    for mode in (counter, winograd_counter):  # oneDNN's fused operators in both modes, never aten's convolution
        assert torch.ops.aten.convolution not in mode.get_flop_counts()['Global']


@needs_onednn
def test_cpu_runner_runs_winograd_in_fp32_at_the_paper_config_only():
    """What a policy runs: the paper config's nine layer 2-4 convolutions in fp32; none in
    bf16 (precision auto on a CPU with native bf16) and none at the CPU demo's frames."""
    from act_training.config import ModelConfig, load_training_configs
    from act_training.model import build_model
    from act_training.model.inference import ActInference
    from act_training.model.runner import CpuRunner, packs_linear_weights

    demo, _ = load_training_configs(str(Path(__file__).resolve().parents[1] / 'config' / 'training' / 'cpu_demo.yaml'))
    shape = dict(camera_names=('top',), state_dim=14, action_dim=14, backbone_weights='none')
    paper = build_model(ModelConfig(**shape)).eval()
    assert CpuRunner(ActInference(paper), torch.float32).engine.backbone.winograd_count == 9
    if packs_linear_weights(torch.bfloat16):
        assert CpuRunner(ActInference(paper), torch.bfloat16).engine.backbone.winograd_count == 0
    demo_model = build_model(dataclasses.replace(demo, **shape)).eval()
    assert CpuRunner(ActInference(demo_model), torch.float32).engine.backbone.winograd_count == 0


# --- training (winograd_conv2d, training_conv_kernel) ----------------------------------------


@pytest.mark.parametrize('size, out_channels, with_bias', [
    ((1, 16, 8, 12), 16, True),  # whole tiles
    ((2, 8, 13, 7), 24, True),  # overhanging tiles on both axes, batch 2, C_in != C_out
    ((1, 32, 3, 5), 8, False),  # smaller than one tile, no bias (a GroupNorm backbone's convolutions)
])
def test_training_winograd_is_the_direct_convolution_in_value_and_gradient(size, out_channels, with_bias):
    """Outputs and the three gradients against a float64 convolution, within the 1e-5 of
    the largest value the docstring gives (fp32's direct convolution: about 1e-6)."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(size, generator=generator).contiguous(memory_format=torch.channels_last).requires_grad_()
    weight = (torch.randn(out_channels, size[1], 3, 3, generator=generator) / (3 * size[1] ** 0.5)).requires_grad_()
    bias = torch.randn(out_channels, generator=generator).requires_grad_() if with_bias else None
    grad = torch.randn(size[0], out_channels, *size[2:], generator=generator)
    inputs = (x, weight) + ((bias,) if with_bias else ())
    exact_inputs = [t.detach().double().requires_grad_() for t in inputs]
    exact = F.conv2d(exact_inputs[0], exact_inputs[1], exact_inputs[2] if with_bias else None, padding=1)
    exact_grads = torch.autograd.grad(exact, exact_inputs, grad.double())
    out = winograd.winograd_conv2d(x, weight, bias)
    assert out.shape == exact.shape and out.is_contiguous(memory_format=torch.channels_last)
    grads = torch.autograd.grad(out, inputs, grad)
    assert grads[0].is_contiguous(memory_format=torch.channels_last)
    for name, got, expected in zip(('output', 'input', 'weight', 'bias'), (out,) + grads, (exact,) + exact_grads):
        assert got.shape == expected.shape, name
        torch.testing.assert_close(got.double(), expected, atol=1e-5 * float(expected.detach().abs().max()), rtol=0, msg=name)
    assert float((out.double() - exact).abs().max().detach()) > 0  # fp32 arithmetic, not a float64 detour


def test_training_winograd_gradients_only_where_asked():
    """A frozen weight, an input without gradient: the other gradients are still right."""
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(1, 8, 9, 10, generator=generator)
    weight = torch.randn(8, 8, 3, 3, generator=generator)
    bias = torch.randn(8, generator=generator)
    grad = torch.randn(1, 8, 9, 10, generator=generator)
    for wanted in ('input', 'weight'):
        inputs = {'input': x.clone(), 'weight': weight.clone(), 'bias': bias.clone()}
        inputs[wanted].requires_grad_()
        got = torch.autograd.grad(winograd.winograd_conv2d(inputs['input'], inputs['weight'], inputs['bias']),
                                  inputs[wanted], grad)[0]
        expected = torch.autograd.grad(F.conv2d(inputs['input'], inputs['weight'], inputs['bias'], padding=1),
                                       inputs[wanted], grad)[0]
        torch.testing.assert_close(got, expected, atol=1e-5 * float(expected.abs().max()), rtol=0, msg=wanted)


def test_direct_training_convolutions_turns_the_rule_off_inside_only():
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False)
    x = torch.empty(8, 128, 60, 80)
    with winograd.direct_training_convolutions():
        assert winograd.training_conv_kernel(conv, x) == 'direct'
    assert winograd.training_conv_kernel(conv, x) == 'winograd'


def test_stem_relu_after_the_pool_is_the_same_with_ties_and_non_positive_windows():
    """relu(maxpool(y)) against maxpool(relu(y)) on small integers: many tied maxima, windows
    all negative or all zero. The same values and the same gradient, exactly."""
    generator = torch.Generator().manual_seed(3)
    y = torch.randint(-3, 2, (2, 4, 9, 11), generator=generator).float()
    y[0, 0] = -1.0  # a map with every window negative
    y[0, 1] = 0.0  # and one of zeros
    pool = torch.nn.MaxPool2d(3, 2, 1)  # ResNet-18's
    grad = torch.randn(2, 4, 5, 6, generator=generator)
    results = []
    for first_relu in (True, False):
        leaf = y.clone().requires_grad_()
        out = pool(F.relu(leaf)) if first_relu else F.relu(pool(leaf), inplace=True)
        results.append((out, torch.autograd.grad(out, leaf, grad)[0]))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_training_winograd_output_takes_an_inplace_relu():
    """The backbone applies ReLU in place to a convolution's output: the output is a view
    autograd made, not one from inside the Function, so this works and the gradient is right."""
    x = torch.randn(1, 8, 9, 10).requires_grad_()
    weight = torch.randn(8, 8, 3, 3).requires_grad_()
    y = F.relu(winograd.winograd_conv2d(x, weight, None), inplace=True)
    reference = F.relu(F.conv2d(x, weight, None, padding=1))
    grad = torch.randn_like(reference)
    got, expected = torch.autograd.grad(y, x, grad)[0], torch.autograd.grad(reference, x, grad)[0]
    torch.testing.assert_close(got, expected, atol=1e-4 * float(expected.abs().max()), rtol=0)


def test_training_conv_kernel_picks_winograd_for_the_paper_configs_large_layers_only():
    def kernel(in_channels, size, out_channels=None, dtype=torch.float32, **conv_args):
        conv = torch.nn.Conv2d(in_channels, out_channels or in_channels, conv_args.pop('kernel_size', 3), bias=False,
                               **({'padding': 1} | conv_args)).to(dtype)
        return winograd.training_conv_kernel(conv, torch.empty(size, dtype=dtype))

    # The paper config at the bench's batch 8: layers 2-4 (300, 80 and 20 tiles an image).
    assert kernel(128, (8, 128, 60, 80)) == kernel(256, (8, 256, 30, 40)) == kernel(512, (8, 512, 15, 20)) == 'winograd'
    # Under TRAINING_MIN_TILES (128): layer 4 at batch 4 (80 tiles), layer 3 at batch 1 (80).
    assert kernel(128, (1, 128, 60, 80)) == 'winograd' and kernel(256, (1, 256, 30, 40)) == 'direct'
    assert kernel(512, (4, 512, 15, 20)) == 'direct'
    # The CPU demo's 96x128 frames at batch 8 (96, 32 and 8 tiles), layer 1 (64 channels),
    # strided, dilated, 1x1 and bf16 convolutions: direct.
    assert kernel(128, (8, 128, 12, 16)) == kernel(256, (8, 256, 6, 8)) == kernel(512, (8, 512, 3, 4)) == 'direct'
    assert kernel(64, (8, 64, 120, 160)) == 'direct'
    assert kernel(128, (8, 128, 60, 80), out_channels=256, stride=2) == 'direct'
    assert kernel(128, (8, 128, 60, 80), padding=2, dilation=2) == 'direct'
    assert kernel(128, (8, 128, 60, 80), kernel_size=1, padding=0) == 'direct'
    assert kernel(128, (8, 128, 60, 80), dtype=torch.bfloat16) == 'direct'
    with torch.autocast('cpu', dtype=torch.bfloat16):  # bf16 training: autocast runs the convolution in bf16
        assert kernel(128, (8, 128, 60, 80)) == 'direct'


def test_backbone_trains_through_winograd_at_the_paper_size(monkeypatch):
    """ResNet18Features on one 480x640 image runs layer 2's three stride-1 convolutions as
    Winograd (300 tiles; layers 3 and 4 have 80 and 20, under TRAINING_MIN_TILES: at the
    bench's batch 8 they pass too). Its features and weight gradients are torchvision's
    ResNet-18 (BN apart, ReLU before the pool) in float64 within fp32's own rounding: at
    this size torchvision's fp32 gradients of the early layers are off by up to 1e-3 of
    their largest value, so ours may be off by twice what torchvision's fp32 is, plus 1e-5."""
    import torchvision

    from act_training.model import backbone as backbone_module

    calls = []

    def counted(x, weight, bias):
        calls.append(tuple(x.shape))
        return winograd.winograd_conv2d(x, weight, bias)

    monkeypatch.setattr(backbone_module, 'winograd_conv2d', counted)
    torch.manual_seed(7)
    ours = backbone_module.ResNet18Features()
    for module in ours.modules():
        if isinstance(module, torchvision.ops.misc.FrozenBatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.uniform_(0.5, 1.5)
    references = {}
    for dtype in (torch.float32, torch.float64):
        references[dtype] = torchvision.models.resnet18(weights=None, norm_layer=torchvision.ops.misc.FrozenBatchNorm2d)
        references[dtype].load_state_dict(ours.state_dict(), strict=False)  # everything but fc
        references[dtype].to(dtype)
    ours.to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, 480, 640).contiguous(memory_format=torch.channels_last)
    weights = torch.randn(1, 512, 15, 20, dtype=torch.float64)
    got = ours(x)
    assert calls == [(1, 128, 60, 80)] * 3
    (got * weights.float()).sum().backward()
    outputs = {}
    for dtype, reference in references.items():
        stem = reference.maxpool(reference.relu(reference.bn1(reference.conv1(x.to(dtype)))))
        outputs[dtype] = reference.layer4(reference.layer3(reference.layer2(reference.layer1(stem))))
        (outputs[dtype] * weights.to(dtype)).sum().backward()
    exact = outputs[torch.float64]
    torch.testing.assert_close(got.double(), exact, atol=1e-5 * float(exact.detach().abs().max()), rtol=0)
    for name in ('conv1.weight', 'layer1.0.conv2.weight', 'layer2.0.conv2.weight', 'layer3.1.conv1.weight',
                 'layer4.1.conv2.weight', 'layer4.0.downsample.0.weight'):
        exact_grad = references[torch.float64].get_parameter(name).grad
        fp32_error = float((references[torch.float32].get_parameter(name).grad.double() - exact_grad).abs().max())
        error = float((ours.get_parameter(name).grad.double() - exact_grad).abs().max())
        assert error <= 2 * fp32_error + 1e-5 * float(exact_grad.abs().max()), name
