"""The network: shapes, the loss terms, z = 0 determinism, the inference fast path (fp32
and bf16), the CPU kernels (oneDNN linear, dropout, written-out attention), and backbone
weight loading that never falls back to random init silently."""

import math

import numpy as np
import pytest
import torch
import torchvision
from training_episodes import randomized_folded_backbone, tiny_model_config

from act_training.data.images import normalize_images
from act_training.model import act_loss, build_model, kl_divergence, masked_l1
from act_training.model.backbone import (BackboneWeightsError, PackedBackbone, ResNet18Features, feature_map_size,
                                         fold_frozen_batchnorm, load_backbone_weights)
from act_training.model.inference import ActInference
from act_training.model import onednn
from act_training.model.onednn import OneDnnLinear, PackedLinear
from act_training.model.runner import CpuRunner, native_bf16, packs_linear_weights, resolve_precision
from act_training.model.position import sinusoidal_1d, sinusoidal_2d
from act_training.model.transformer import Attention, Dropout, dropout


def _inputs(config, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (batch, len(config.camera_names), config.image_height, config.image_width, 3),
                           dtype=torch.uint8, generator=generator)  # (B, N, H, W, 3)
    qpos = torch.randn(batch, config.state_dim, generator=generator)
    actions = torch.randn(batch, config.chunk_size, config.action_dim, generator=generator)
    return frames, qpos, actions


def _images(frames):
    return normalize_images(frames.permute(0, 1, 4, 2, 3))  # (B, N, 3, H, W)


@pytest.fixture
def config():
    return tiny_model_config(camera_names=('top', 'wrist'), state_dim=5, action_dim=3, image_height=64, image_width=96)


def test_output_shapes_and_latent(config):
    model = build_model(config).train()
    frames, qpos, actions = _inputs(config)
    out = model(_images(frames), qpos, actions, torch.zeros(2, config.chunk_size, dtype=torch.bool))
    assert out.actions.shape == (2, config.chunk_size, config.action_dim)
    assert out.mu.shape == out.logvar.shape == (2, config.latent_dim)
    assert model.camera_pos.shape == (2 * 2 * 3, config.dim_model)  # 2 cameras x ceil(64/32) x ceil(96/32)


def test_kl_matches_closed_form_and_torch_distributions():
    mu, logvar = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    posterior = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(-1).mean()
    assert torch.allclose(kl_divergence(mu, logvar), expected)
    # One latent, by hand: KL(N(1, e^0) || N(0, 1)) = 0.5 * (1 + 1 - 1 - 0) = 0.5
    assert kl_divergence(torch.ones(1, 1), torch.zeros(1, 1)).item() == pytest.approx(0.5)
    assert kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0


def test_l1_ignores_padded_steps_and_loss_adds_weighted_kl():
    target = torch.zeros(2, 4, 3)
    predicted = torch.ones(2, 4, 3)
    is_pad = torch.tensor([[False, False, True, True], [False, False, False, False]])
    # 6 valid steps x 3 entries of error 1, averaged over all 24 entries.
    assert masked_l1(predicted, target, is_pad).item() == pytest.approx(18 / 24)
    predicted_pad_garbage = predicted.clone()
    predicted_pad_garbage[0, 2:] = 1e6
    assert masked_l1(predicted_pad_garbage, target, is_pad).item() == pytest.approx(18 / 24)
    mu, logvar = torch.ones(2, 1), torch.zeros(2, 1)
    terms = act_loss(predicted, target, is_pad, mu, logvar, kl_weight=10.0)
    assert terms.kl.item() == pytest.approx(0.5)
    assert terms.loss.item() == pytest.approx(18 / 24 + 10 * 0.5)




def test_smooth_l1_action_loss_is_quadratic_below_beta_and_l1_is_still_reported():
    target = torch.zeros(1, 2, 2)
    predicted = torch.tensor([[[0.5, -2.0], [9.0, 9.0]]])
    is_pad = torch.tensor([[False, True]])  # the second step is past the episode end
    terms = act_loss(predicted, target, is_pad, None, None, 10.0, action_loss='smooth_l1', smooth_l1_beta=1.0)
    # 0.5 * 0.5^2 = 0.125 (quadratic) and 2 - 0.5 = 1.5 (linear), over all 4 entries.
    assert terms.loss.item() == pytest.approx((0.125 + 1.5) / 4)
    assert terms.l1.item() == pytest.approx((0.5 + 2.0) / 4)  # the logged L1 does not change with the loss
    terms = act_loss(predicted, target, is_pad, None, None, 10.0, action_loss='smooth_l1', smooth_l1_beta=4.0)
    assert terms.loss.item() == pytest.approx((0.5 * 0.25 / 4 + 0.5 * 4.0 / 4) / 4)
    with pytest.raises(ValueError, match='action_loss'):
        act_loss(predicted, target, is_pad, None, None, 10.0, action_loss='l2')


def test_image_aux_loss_adds_its_weight_and_uses_the_action_loss():
    target = torch.zeros(2, 4, 3)
    is_pad = torch.tensor([[False, False, True, True], [False, False, False, False]])
    aux = torch.ones(2, 4, 3)
    # 6 + 12 valid steps' entries of error 1, over all 24 entries; the policy's chunk is exact.
    terms = act_loss(target, target, is_pad, None, None, 10.0, aux, image_aux_weight=2.0)
    assert terms.image_aux.item() == pytest.approx(18 / 24)
    assert terms.l1.item() == 0.0 and terms.loss.item() == pytest.approx(2.0 * 18 / 24)
    # With smooth L1 (beta 1) an error of 1 costs 0.5.
    terms = act_loss(target, target, is_pad, None, None, 10.0, aux, 2.0, action_loss='smooth_l1')
    assert terms.image_aux.item() == pytest.approx(0.5 * 18 / 24)


def test_image_aux_head_is_trained_from_the_image_alone_and_never_runs_at_inference(config):
    from dataclasses import replace

    torch.manual_seed(0)
    model = build_model(replace(config, image_aux_weight=1.0, use_vae=False)).eval()
    frames, qpos, actions = _inputs(model.config)
    with torch.no_grad():
        trained = model(_images(frames), qpos, actions)
        other_qpos = model(_images(frames), qpos + 1.0, actions)
        assert model(_images(frames), qpos).image_aux is None  # z = 0, inference: no auxiliary chunk
    assert trained.image_aux.shape == trained.actions.shape
    # The head reads the image only: another qpos changes the policy's chunk, not the auxiliary one.
    torch.testing.assert_close(trained.image_aux, other_qpos.image_aux)
    assert not torch.allclose(trained.actions, other_qpos.actions)
    # The inference fast path runs the same policy and ignores the head.
    with torch.no_grad():
        torch.testing.assert_close(ActInference(model)(frames, qpos), model(_images(frames), qpos).actions,
                                   atol=1e-4, rtol=1e-4)


def test_z_zero_makes_inference_deterministic(config):
    torch.manual_seed(0)
    model = build_model(tiny_model_config(camera_names=('top', 'wrist'), state_dim=5, action_dim=3,
                                          image_height=64, image_width=96, dropout=0.1))
    frames, qpos, actions = _inputs(config)
    images = _images(frames)
    model.train()
    sampled = [model(images, qpos, actions).actions for _ in range(2)]
    assert not torch.equal(sampled[0], sampled[1])  # training: z sampled, dropout on
    model.eval()
    with torch.no_grad():
        first, second = model(images, qpos).actions, model(images, qpos).actions
    assert torch.equal(first, second)
    assert model(images, qpos).mu is None  # no actions -> no posterior, z = 0


def test_fast_inference_path_matches_the_model(config):
    torch.manual_seed(1)
    for overrides in ({}, {'n_decoder_layers': 3}, {'pre_norm': True}):
        model = build_model(tiny_model_config(camera_names=('top', 'wrist'), state_dim=5, action_dim=3,
                                              image_height=64, image_width=96, **overrides)).eval()
        # Give the frozen BatchNorm non-trivial statistics, so folding it is exercised.
        for module in model.backbone.modules():
            if isinstance(module, torchvision.ops.misc.FrozenBatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
        frames, qpos, _ = _inputs(config, batch=3)
        with torch.no_grad():
            reference = model(_images(frames), qpos).actions
            fast = ActInference(model)(frames, qpos)
        assert fast.shape == reference.shape
        assert torch.allclose(fast, reference, atol=1e-4, rtol=1e-4), (overrides, (fast - reference).abs().max())
        # What ActPolicy runs on the CPU: oneDNN linear layers, in fp32 and in bf16.
        frame_list, first_qpos = [frame.numpy() for frame in frames[0]], qpos[0].numpy()
        packed = CpuRunner(ActInference(model), torch.float32)(frame_list, first_qpos)  # (S, Da)
        np.testing.assert_allclose(packed, reference[0].numpy(), atol=1e-4, rtol=1e-4)
        bf16 = CpuRunner(ActInference(model), torch.bfloat16)(frame_list, first_qpos)  # (S, Da)
        assert bf16.dtype == np.float32
        # bf16 keeps 8 significant bits: errors of a few 1/256 of the output's scale.
        scale = float(reference[0].abs().max())
        assert 0 < np.abs(bf16 - reference[0].numpy()).max() < 0.03 * scale, (overrides, np.abs(bf16 - packed).max(), scale)


def test_precision_resolves_per_device():
    cpu = torch.device('cpu')
    assert resolve_precision('fp32', cpu) == torch.float32 and resolve_precision('bf16', cpu) == torch.bfloat16
    assert resolve_precision('auto', cpu) == (torch.bfloat16 if native_bf16(cpu) else torch.float32)
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        resolve_precision('fp16', cpu)


def test_onednn_linear_is_nn_linear_in_value_and_gradient(monkeypatch):
    calls = []
    original = onednn._onednn_linear
    monkeypatch.setattr(onednn, '_onednn_linear', lambda *args: calls.append(1) or original(*args))
    monkeypatch.setattr(onednn, 'ONEDNN_MIN_MACS', 0)  # this small layer through oneDNN too
    torch.manual_seed(3)
    fast, reference = OneDnnLinear(48, 80), torch.nn.Linear(48, 80)
    reference.load_state_dict(fast.state_dict())
    x = torch.randn(4, 30, 48)
    outputs, grads = [], []
    for layer in (fast, reference):
        inputs = x.clone().requires_grad_()
        out = layer(inputs)
        out.backward(torch.cos(out.detach()))
        outputs.append(out.detach())
        grads.append((inputs.grad, layer.weight.grad, layer.bias.grad))
    assert len(calls) == 2, 'the forward and the input gradient go through oneDNN'
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-5)
    for got, expected in zip(*grads):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    with torch.autocast('cpu', dtype=torch.bfloat16):  # autocast: nn.Linear's own path, in bf16
        assert fast(x).dtype == torch.bfloat16


def test_the_flop_counter_counts_the_onednn_linear_like_nn_linear(monkeypatch):
    """Forward 2*M*K*N, forward and backward 3x that, whichever path the layer took."""
    if not onednn.onednn_available():
        pytest.skip('this torch build has no oneDNN linear operator')
    monkeypatch.setattr(onednn, 'ONEDNN_MIN_MACS', 0)
    fast, reference = OneDnnLinear(48, 80), torch.nn.Linear(48, 80)
    x = torch.randn(4, 30, 48, requires_grad=True)
    for layer in (fast, reference):
        with onednn.flop_counter() as forward:
            out = layer(x)
        assert forward.get_total_flops() == 2 * 4 * 30 * 48 * 80
        with onednn.flop_counter() as both:
            layer(x).sum().backward()
        assert both.get_total_flops() == 3 * 2 * 4 * 30 * 48 * 80
    assert out.shape == (4, 30, 80)


def test_a_packed_linear_fuses_the_relu_into_its_matmul():
    if not onednn.onednn_available():
        pytest.skip('this torch build has no oneDNN linear operator')
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    torch.manual_seed(5)
    layer, x = OneDnnLinear(48, 80), torch.randn(3, 30, 48)
    with torch.inference_mode():
        expected = torch.relu(layer(x))
        packed = PackedLinear(layer, rows_hint=90)
        with Ops() as ops:
            fused = packed.forward_relu(x)
        torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
        assert layer.forward_relu(x).equal(expected)
    assert ops.names == ['mkldnn._linear_pointwise'], ops.names


class _Ops:
    """Context manager recording the operators dispatched inside it (overload packets)."""

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        names = self.names = []

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                names.append(str(func.overloadpacket))
                return func(*args, **(kwargs or {}))

        self.mode = Mode()
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


_KERNEL_OPERATOR = {'matmul': 'mkldnn._linear_pointwise', 'conv1x1': 'mkldnn._convolution_pointwise'}


@pytest.mark.parametrize('kernel', ['matmul', 'conv1x1'])
@pytest.mark.parametrize('bias', [True, False])
def test_a_packed_linear_is_the_linear_with_either_kernel(kernel, bias):
    """Every row count (the hint, others, one row), leading dimensions kept, a strided
    input, with and without the fused ReLU, through the kernel asked for, and the FLOPs
    counted as a linear layer's."""
    if not onednn.onednn_available() or (kernel == 'conv1x1' and not onednn.onednn_conv_available()):
        pytest.skip(f'this torch build lacks the oneDNN operator of the {kernel} kernel')
    torch.manual_seed(6)
    layer = torch.nn.Linear(48, 80, bias=bias)
    inputs = [torch.randn(shape) for shape in ((3, 30, 48), (1, 100, 48), (7, 48), (1, 48))]
    inputs.append(torch.randn(20, 96)[:, ::2])  # (20, 48), not contiguous
    for rows_hint in (90, None):
        packed = PackedLinear(layer, rows_hint=rows_hint, kernel=kernel)
        with torch.inference_mode():
            for x in inputs:
                with _Ops() as ops:
                    out, fused = packed(x), packed.forward_relu(x)
                torch.testing.assert_close(out, layer(x), atol=1e-5, rtol=1e-5)
                torch.testing.assert_close(fused, torch.relu(layer(x)), atol=1e-5, rtol=1e-5)
                assert out.shape == (*x.shape[:-1], 80)
                ran = [name for name in ops.names if name in _KERNEL_OPERATOR.values()]
                assert ran == [_KERNEL_OPERATOR[kernel]] * 2, ran
            with onednn.flop_counter() as counter:
                packed(torch.randn(2, 30, 48))
        assert counter.get_total_flops() == 2 * 2 * 30 * 48 * 80


def test_a_packed_linear_refuses_an_unknown_kernel_and_a_wrong_input():
    with pytest.raises(ValueError, match="kernel must be 'matmul', 'conv1x1' or None, got 'gemm'"):
        PackedLinear(torch.nn.Linear(4, 4), kernel='gemm')
    if not onednn.onednn_available():
        pytest.skip('this torch build has no oneDNN linear operator')
    with pytest.raises(ValueError, match=r'expects inputs \(\.\.\., 4\), got \(3, 5\)'):
        PackedLinear(torch.nn.Linear(4, 4), kernel='matmul')(torch.randn(3, 5))


def test_the_1x1_convolution_runs_large_fp32_linears_where_onednn_runs_avx2_kernels(monkeypatch):
    """Measured on the AVX2-only EPYC (onednn.linear_kernel); every other CPU keeps the
    matmul kernel, and small products and bf16 keep it everywhere."""
    import dataclasses

    import act_common.cpu_features as cpu_module

    if not onednn.onednn_conv_available():
        pytest.skip('this torch build has no oneDNN convolution operator')
    avx512 = frozenset({'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq'})
    cases = [  # (arch, flags, ONEDNN_MAX_CPU_ISA, the kernel of a large fp32 product)
        ('x86_64', frozenset({'avx2', 'fma'}), '', 'conv1x1'),
        ('x86_64', avx512, '', 'matmul'),
        ('x86_64', avx512, 'AVX2', 'conv1x1'),  # oneDNN capped at AVX2 runs AVX2 kernels
        ('x86_64', frozenset({'sse4_2'}), '', 'matmul'),
        ('aarch64', frozenset({'asimd', 'bf16'}), '', 'matmul'),
    ]
    real = cpu_module.cpu_features()
    for arch, flags, cap, large in cases:
        features = dataclasses.replace(real, arch=arch, flags=flags, onednn_max_isa=cap)
        monkeypatch.setattr(cpu_module, 'cpu_features', lambda features=features: features)
        assert onednn.linear_kernel(onednn.CONV1X1_MIN_MACS) == large, (arch, flags, cap)
        assert onednn.linear_kernel(onednn.CONV1X1_MIN_MACS - 1) == 'matmul', (arch, flags, cap)
        assert onednn.linear_kernel(onednn.CONV1X1_MIN_MACS, torch.bfloat16) == 'matmul', (arch, flags, cap)


def test_a_packed_linear_lays_the_convolution_weight_out_once_per_row_count(monkeypatch):
    # One layout served every row count and oneDNN reordered it again in each call that
    # differed from the hint (58 ms a 4-camera chunk).
    if not onednn.onednn_conv_available():
        pytest.skip('this torch build has no oneDNN convolution operator')
    reorder = torch.ops.mkldnn._reorder_convolution_weight
    calls = []
    monkeypatch.setattr(torch.ops.mkldnn, '_reorder_convolution_weight',
                        lambda *args: calls.append(args[-1]) or reorder(*args), raising=False)
    layer = torch.nn.Linear(16, 8)
    packed = PackedLinear(layer, rows_hint=12, kernel='conv1x1')
    assert calls == []  # laid out at first use, not for a hint the layer may never see
    with torch.inference_mode():
        for x in (torch.randn(12, 16), torch.randn(2, 5, 16), torch.randn(10, 16), torch.randn(12, 16)):
            torch.testing.assert_close(packed(x), layer(x), atol=1e-5, rtol=1e-5)
    assert calls == [[1, 16, 1, 12], [1, 16, 1, 10]]


def test_dropout_zeroes_p_and_scales_the_rest():
    torch.manual_seed(4)
    out = dropout(torch.ones(400, 1000), 0.1)
    assert abs(float((out == 0).float().mean()) - 0.1) < 0.005  # 400k draws: std of the fraction 0.0005
    with pytest.raises(ValueError, match=r'dropout probability must be in \[0, 1\), got 1.0'):
        dropout(torch.ones(3), 1.0)
    assert torch.allclose(out[out != 0], torch.tensor(1 / 0.9))
    layer = Dropout(0.3)
    x = torch.randn(50, 50)
    assert torch.equal(layer.eval()(x), x) and not torch.equal(layer.train()(x), x)
    assert torch.equal(dropout(x, 0.0), x)


def test_training_attention_is_sdpa_when_nothing_is_dropped():
    torch.manual_seed(5)
    attention = Attention(32, 4, dropout=1e-9)  # the written-out training path, dropping (almost) nothing
    x, padding = torch.randn(2, 9, 32), torch.zeros(2, 9, dtype=torch.bool)
    padding[0, 6:] = True
    trained = attention.train().self_attention(x, None, padding)
    fused = attention.eval().self_attention(x, None, padding)  # F.scaled_dot_product_attention
    torch.testing.assert_close(trained, fused, atol=1e-5, rtol=1e-5)


def test_decoder_layers_beyond_the_first_reach_the_output():
    torch.manual_seed(2)
    config = tiny_model_config(state_dim=4, action_dim=4, n_decoder_layers=7)
    model = build_model(config).train()
    frames, qpos, actions = _inputs(config)
    terms = act_loss(*(lambda o: (o.actions, actions, torch.zeros(2, 8, dtype=torch.bool), o.mu, o.logvar))(
        model(_images(frames), qpos, actions)), kl_weight=10.0)
    terms.loss.backward()
    assert model.decoder.layers[6].ffn.linear1.weight.grad.abs().sum() > 0


def test_position_embeddings():
    table = sinusoidal_1d(10, 8)
    assert table.shape == (10, 8)
    assert torch.allclose(table[3, 0], torch.tensor(math.sin(3.0)))
    assert torch.allclose(table[3, 1], torch.tensor(math.cos(3.0)))
    grid = sinusoidal_2d(3, 4, 16)
    assert grid.shape == (12, 16)
    # Same row -> same y half; same column -> same x half.
    assert torch.equal(grid[0, :8], grid[3, :8]) and not torch.equal(grid[0, 8:], grid[3, 8:])
    assert torch.equal(grid[0, 8:], grid[4, 8:])
    assert feature_map_size(480, 640) == (15, 20) and feature_map_size(120, 160) == (4, 5)


def test_backbone_output_size_matches_feature_map_size():
    backbone = ResNet18Features().eval()
    with torch.no_grad():
        assert backbone(torch.zeros(1, 3, 100, 70)).shape == (1, 512, *feature_map_size(100, 70))


def test_backbone_is_torchvision_resnet18_in_value_and_gradient():
    """Our forward folds each frozen BN into its convolution; torchvision's runs them apart."""
    torch.manual_seed(6)
    ours = ResNet18Features()
    for module in ours.modules():
        if isinstance(module, torchvision.ops.misc.FrozenBatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.uniform_(0.5, 1.5)
    reference = torchvision.models.resnet18(weights=None, norm_layer=torchvision.ops.misc.FrozenBatchNorm2d)
    reference.load_state_dict(ours.state_dict(), strict=False)  # everything but fc
    x = torch.randn(2, 3, 64, 96)
    stem = reference.maxpool(reference.relu(reference.bn1(reference.conv1(x))))
    expected = reference.layer4(reference.layer3(reference.layer2(reference.layer1(stem))))
    got = ours(x)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    weights = torch.randn_like(got)
    (got * weights).sum().backward()
    (expected * weights).sum().backward()
    for name in ('conv1.weight', 'layer1.0.conv2.weight', 'layer3.0.downsample.0.weight', 'layer4.1.conv1.weight'):
        mine, theirs = ours.get_parameter(name).grad, reference.get_parameter(name).grad
        torch.testing.assert_close(mine, theirs, atol=1e-4 * float(theirs.abs().max()), rtol=1e-3)


def test_folded_batchnorm_is_the_same_function():
    torch.manual_seed(3)
    backbone = ResNet18Features().eval()
    for module in backbone.modules():
        if isinstance(module, torchvision.ops.misc.FrozenBatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(fold_frozen_batchnorm(backbone)(x), backbone(x), atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not onednn.onednn_conv_available(), reason='oneDNN fused convolutions are not in this torch')
@pytest.mark.parametrize('dilate_last_stage', [False, True])
def test_packed_backbone_is_the_folded_backbone(dilate_last_stage):
    folded = randomized_folded_backbone(4, dilate_last_stage=dilate_last_stage)
    size = (2, 3, 72, 104)  # two cameras; sizes that round up at every stride
    x = torch.randn(size).contiguous(memory_format=torch.channels_last)
    packed = PackedBackbone(folded, size)
    with torch.no_grad():
        reference = folded(x)
        out = packed(x)
    assert out.shape == reference.shape == (2, 512, *feature_map_size(72, 104, folded.stride))
    torch.testing.assert_close(out, reference, atol=1e-4 * float(reference.abs().max()), rtol=1e-4)
    # Every convolution goes through oneDNN's fused operator, none through aten's. Direct
    # convolutions only, whatever winograd.conv_kernel picks at this size (none today):
    # Winograd products count fewer FLOPs (test_training_winograd.py).
    packed.set_winograd(False)
    counter = onednn.flop_counter()
    with counter, torch.no_grad():
        packed(x)
    counts = counter.get_flop_counts()['Global']
    assert torch.ops.aten.convolution not in counts
    eager = onednn.flop_counter()
    with eager, torch.no_grad():
        folded(x)
    assert counter.get_total_flops() == eager.get_total_flops() > 0  # the same arithmetic, counted


@pytest.mark.skipif(not (onednn.onednn_conv_available() and packs_linear_weights(torch.bfloat16)),
                    reason='oneDNN\'s packed bf16 reorder is not available here')
def test_packed_backbone_in_bf16_is_within_bf16_rounding():
    folded = randomized_folded_backbone(5)
    size = (1, 3, 64, 96)
    x = torch.randn(size).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = folded(x)
        out = PackedBackbone(folded.to(torch.bfloat16), size)(x.to(torch.bfloat16)).float()
    scale = float(reference.abs().max())
    assert 0 < (out - reference).abs().max() < 0.03 * scale


def test_packed_backbone_refuses_what_it_cannot_fold():
    unfolded = ResNet18Features().eval()
    group_norm = fold_frozen_batchnorm(ResNet18Features(norm='group_norm'))
    assert not PackedBackbone.packs(unfolded) and not PackedBackbone.packs(group_norm)
    with pytest.raises(ValueError, match='fold_frozen_batchnorm'):
        PackedBackbone(unfolded, (1, 3, 64, 64))


def test_cpu_runner_packs_the_backbone_where_it_packs_weights():
    model = build_model(tiny_model_config(camera_names=('top', 'wrist'), state_dim=4, action_dim=4, image_height=48,
                                          image_width=64)).eval()
    for dtype in (torch.float32, torch.bfloat16):
        runner = CpuRunner(ActInference(model), dtype)
        expected = runner.packed and onednn.onednn_conv_available()
        assert isinstance(runner.engine.backbone, PackedBackbone) == expected, dtype
        if expected:
            assert runner.engine.backbone.input_size == (2, 3, 48, 64)
    group_norm = build_model(tiny_model_config(camera_names=('top',), state_dim=4, action_dim=4, image_height=48,
                                               image_width=64, backbone_norm='group_norm')).eval()
    assert not isinstance(CpuRunner(ActInference(group_norm), torch.float32).engine.backbone, PackedBackbone)


def test_imagenet_weights_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(BackboneWeightsError) as error:
        load_backbone_weights(ResNet18Features(), 'imagenet')
    message = str(error.value)
    assert str(tmp_path) in message and 'resnet18-' in message and 'backbone_weights=none' in message


def test_backbone_weights_from_files(tmp_path, monkeypatch):
    torch.manual_seed(4)
    reference = torchvision.models.resnet18(weights=None)
    state = reference.state_dict()  # torchvision layout: fc.* and num_batches_tracked included
    # The torch hub cache layout that 'imagenet' reads.
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    from act_training.model.backbone import imagenet_cache_path
    imagenet_cache_path().parent.mkdir(parents=True)
    torch.save(state, imagenet_cache_path())
    backbone = ResNet18Features()
    assert 'resnet18-' in load_backbone_weights(backbone, 'imagenet')
    assert torch.equal(backbone.layer3[1].conv2.weight, state['layer3.1.conv2.weight'])
    # A safetensors file given by path.
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / 'r18.safetensors'))
    other = ResNet18Features()
    load_backbone_weights(other, str(tmp_path / 'r18.safetensors'))
    assert torch.equal(other.bn1.running_var, state['bn1.running_var'])
    # Not a ResNet-18 / not there: errors naming the file.
    save_file({'weight': torch.zeros(2)}, str(tmp_path / 'wrong.safetensors'))
    with pytest.raises(BackboneWeightsError, match='wrong.safetensors: not a ResNet-18'):
        load_backbone_weights(ResNet18Features(), str(tmp_path / 'wrong.safetensors'))
    with pytest.raises(BackboneWeightsError, match='does not exist'):
        load_backbone_weights(ResNet18Features(), str(tmp_path / 'absent.pth'))
