"""The two configs of ACT training: the model (what is built) and the run (how it is trained).

Defaults are the paper's (Zhao et al. 2023, and the code its results came from); the YAML
files in act_training/config/training/ override them. Every field is validated in
`__post_init__` with the offending value in the message, so a typo in a YAML file or a
`--set` fails before any data is read or any checkpoint is written.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from act_common.errors import ConfigurationError

LR_SCHEDULES = ('constant', 'cosine')
# Normalization layers of the image backbone (act_training.model.backbone says why two).
BACKBONE_NORMS = ('frozen_batchnorm', 'group_norm')
ACTION_LOSSES = ('l1', 'smooth_l1')
DEVICES = ('cpu', 'cuda', 'auto')
# Inference precisions (act_training.model.runner says what each runs as).
PRECISIONS = ('auto', 'fp32', 'bf16')


class ConfigError(ConfigurationError):
    """A config value is invalid; the message names the field and the value (exit 2 in `act`)."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class ModelConfig:
    """The ACT network: a CVAE whose decoder is a DETR-style transformer over camera tokens.

    camera_names: cameras the model reads, in this order. Empty: all cameras found in the
        episodes (sorted), fixed into the checkpoint at training start.
    state_dim / action_dim: entries of the qpos and action vectors (14 for ALOHA). None:
        taken from the episodes at training start.
    image_height / image_width: the resolution the backbone runs at. Recordings of another
        size are resized once at load time, and the inference API applies the same resize.
    chunk_size: actions predicted per query (the paper's k = 100, 2 s at 50 Hz).
    """

    camera_names: tuple[str, ...] = ()
    state_dim: int | None = None
    action_dim: int | None = None
    image_height: int = 480
    image_width: int = 640
    chunk_size: int = 100
    dim_model: int = 512
    n_heads: int = 8
    dim_feedforward: int = 3200
    n_encoder_layers: int = 4
    # The original code builds 7 decoder layers but returns the intermediate outputs and
    # keeps index 0, so only the first layer reaches the loss (LeRobot notes the same).
    # 1 computes exactly that function at a seventh of the decoder cost; 7 (or any n)
    # builds a real n-layer decoder whose last layer is used.
    n_decoder_layers: int = 1
    n_vae_encoder_layers: int = 4
    latent_dim: int = 32
    dropout: float = 0.1
    # Post-norm layers as in the paper's code; True switches to pre-norm.
    pre_norm: bool = False
    kl_weight: float = 10.0
    # The action loss: 'l1' (the paper's) or 'smooth_l1' (Huber: quadratic for errors under
    # smooth_l1_beta, in normalized action units, linear above). Departure for training from
    # random init: L1's gradient has the same size for every error, so the action entries a
    # model already predicts well keep adding +-1 noise to the backbone's gradient, and the
    # small image signal (where the object is) never wins over it. Measured on the CPU demo's
    # data (bench/results/recipe_screen.md): a ResNet-18 from random init with a linear head,
    # trained on the first frames of 45 episodes to predict their first chunk, stays at the
    # mean chunk for 1100 steps with L1 and finds the cube by step 500 with smooth_l1.
    action_loss: str = 'l1'
    smooth_l1_beta: float = 1.0
    # False trains without the CVAE encoder (z is always 0): an ablation of the paper.
    use_vae: bool = True
    # 'imagenet': torchvision's ResNet-18 ImageNet weights from the local torch hub cache
    # (never downloaded; missing -> a clear error). 'none': random init. Else a file path
    # (.safetensors or a torchvision .pth state dict).
    backbone_weights: str = 'imagenet'
    # 'frozen_batchnorm' (the paper's, right for pretrained weights) or 'group_norm' (for
    # random init, where a frozen BatchNorm is the identity; model/backbone.py says why).
    backbone_norm: str = 'frozen_batchnorm'
    # Departure, off in the paper config: the last ResNet stage dilated instead of strided
    # (DETR's DC5; LeRobot's replace_final_stride_with_dilation): a feature map of stride
    # 16, four times the image tokens, for objects of a few pixels.
    backbone_dilation: bool = False
    # Departure, 0 in the paper config: K spatial-softmax keypoints per camera (Levine et
    # al. 2016; robomimic, Diffusion Policy) as K extra encoder tokens next to the feature
    # map's: the expected image (x, y) of K learned feature maps, a position the
    # transformer reads directly instead of inferring it from which token lights up.
    keypoints: int = 0
    # Departure, 0 in the paper config: weight of an auxiliary image-only loss (training
    # only; inference never runs it). A linear head maps the cameras' average-pooled
    # backbone features to the action chunk; its action_loss against the demonstrated chunk
    # is added with this weight. It gives the backbone a gradient that only the image can
    # reduce, where through the transformer that gradient is weak: from random init most
    # CPU runs stop using the image (bench/results/recipe_screen.md, "Why most runs fail").
    # With smooth_l1 it is what makes the CPU recipe look (same file, "A policy that looks").
    image_aux_weight: float = 0.0

    def __post_init__(self) -> None:
        # YAML/JSON give lists; the config is hashable and compared, so keep tuples.
        object.__setattr__(self, 'camera_names', tuple(self.camera_names))
        _check(all(isinstance(name, str) and name for name in self.camera_names),
               f'model.camera_names must be non-empty strings, got {list(self.camera_names)}')
        _check(len(set(self.camera_names)) == len(self.camera_names),
               f'model.camera_names must be unique, got {list(self.camera_names)}')
        for name in ('state_dim', 'action_dim'):
            value = getattr(self, name)
            _check(value is None or (_is_int(value) and value > 0), f'model.{name} must be a positive integer or null, got {value!r}')
        # The backbone downsamples by 32; below 32 pixels there is no feature map left.
        for name in ('image_height', 'image_width'):
            value = getattr(self, name)
            _check(_is_int(value) and value >= 32, f'model.{name} must be an integer >= 32, got {value!r}')
        for name in ('chunk_size', 'dim_model', 'n_heads', 'dim_feedforward', 'n_encoder_layers',
                     'n_decoder_layers', 'latent_dim'):
            value = getattr(self, name)
            _check(_is_int(value) and value > 0, f'model.{name} must be a positive integer, got {value!r}')
        _check(_is_int(self.n_vae_encoder_layers) and self.n_vae_encoder_layers >= (1 if self.use_vae else 0),
               f'model.n_vae_encoder_layers must be >= 1 when use_vae is true, got {self.n_vae_encoder_layers!r}')
        _check(self.dim_model % self.n_heads == 0,
               f'model.dim_model ({self.dim_model}) must be divisible by model.n_heads ({self.n_heads})')
        # The 2D sine embedding spends half the channels on y and half on x.
        _check(self.dim_model % 4 == 0, f'model.dim_model must be a multiple of 4 (2D sine embedding), got {self.dim_model}')
        _check(_is_number(self.dropout) and 0.0 <= self.dropout < 1.0, f'model.dropout must be in [0, 1), got {self.dropout!r}')
        _check(_is_number(self.kl_weight) and self.kl_weight >= 0.0, f'model.kl_weight must be >= 0, got {self.kl_weight!r}')
        _check(isinstance(self.pre_norm, bool), f'model.pre_norm must be true or false, got {self.pre_norm!r}')
        _check(self.action_loss in ACTION_LOSSES, f'model.action_loss must be one of {ACTION_LOSSES}, got {self.action_loss!r}')
        _check(_is_number(self.smooth_l1_beta) and self.smooth_l1_beta > 0.0,
               f'model.smooth_l1_beta must be > 0, got {self.smooth_l1_beta!r}')
        _check(isinstance(self.use_vae, bool), f'model.use_vae must be true or false, got {self.use_vae!r}')
        _check(isinstance(self.backbone_dilation, bool),
               f'model.backbone_dilation must be true or false, got {self.backbone_dilation!r}')
        _check(_is_int(self.keypoints) and self.keypoints >= 0, f'model.keypoints must be an integer >= 0, got {self.keypoints!r}')
        _check(_is_number(self.image_aux_weight) and self.image_aux_weight >= 0.0,
               f'model.image_aux_weight must be >= 0, got {self.image_aux_weight!r}')
        _check(self.backbone_norm in BACKBONE_NORMS,
               f'model.backbone_norm must be one of {BACKBONE_NORMS}, got {self.backbone_norm!r}')
        _check(isinstance(self.backbone_weights, str) and self.backbone_weights != '',
               f'model.backbone_weights must be none, imagenet or a file path, got {self.backbone_weights!r}')

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.image_height, self.image_width)

    @property
    def is_resolved(self) -> bool:
        """True once cameras and vector sizes are fixed (always so in a checkpoint)."""
        return bool(self.camera_names) and self.state_dim is not None and self.action_dim is not None


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Optimizer settings are the paper's (AdamW, lr 1e-5, wd 1e-4)."""

    steps: int = 100_000
    batch_size: int = 8
    lr: float = 1e-5
    backbone_lr: float = 1e-5
    weight_decay: float = 1e-4
    # The paper trains at a constant learning rate; cosine decays to 0 after the warmup.
    lr_schedule: str = 'constant'
    warmup_steps: int = 0
    # 0 disables clipping (the paper's code does not clip).
    grad_clip_norm: float = 0.0
    seed: int = 0
    # Fraction of episodes held out for validation (split by episode, never by frame).
    val_fraction: float = 0.2
    val_every: int = 1000
    # Validation uses this many (episode, start) samples, evenly spread over the
    # held-out episodes, so its cost does not grow with the data set.
    val_samples: int = 256
    checkpoint_every: int = 1000
    # Steps at which a copy of the weights is also kept as output_dir/step_<k> (a
    # checkpoint folder like best/), e.g. for bench/bench_success_curve.py.
    snapshot_steps: tuple[int, ...] = ()
    log_every: int = 50
    device: str = 'auto'
    # DataLoader worker processes; used when the episodes do not fit the memory budget.
    num_workers: int = 4
    # Decoded, resized frames of the whole data set are kept in RAM (uint8) up to this
    # size; above it, worker processes read each sample from the HDF5 files.
    memory_budget_gb: float = 16.0
    # Departure, 0 in the paper config: Gaussian noise (in units of each joint's std) on the
    # qpos the model reads in training. Scripted demonstrations start every episode from
    # the same pose, and ~10 steps in, the arm's first small moves toward the object
    # already tell where it is: a model trained without noise reads the object's position
    # from those qpos offsets instead of the image, and its first chunk (t = 0, where only
    # the image can tell) is worse than the mean chunk (measured: t0 L1 0.28-0.30 on its own
    # training episodes, mean chunk 0.14). Noise hides the offsets and leaves the image.
    qpos_noise_std: float = 0.0
    # Departure, 0 in the paper config: the probability that a training sample's qpos is
    # replaced by the dataset mean (0 once normalized), so that the model must tell the
    # arm's state and the object's place from the image alone. Without it the image is
    # needed only in the first steps of an episode, before qpos tells where the object is,
    # and runs trained from scratch can stop using it (bench/results/recipe_screen.md).
    qpos_dropout: float = 0.0
    # Departure, off in the paper config: the first `early_steps` of every episode are
    # sampled `early_steps_weight` times as often. Before the grasp, where the policy must
    # find the object, is where only the image tells episodes apart; uniform sampling gives
    # that phase a few percent of the batches in a short CPU run.
    early_steps: int = 0
    early_steps_weight: int = 1
    # Departure, 0 in the paper config: each training sample's frames shifted by up to this
    # many pixels (edge-replicated; data.images.random_shift). From-scratch vision on a few
    # dozen episodes sees each episode's first frame only a handful of times in a CPU run,
    # and can fit those frames' pixels instead of where the object is; the shift makes that
    # harder (DrQ, Kostrikov et al. 2020: 4 px at 84x84; Diffusion Policy random-crops).
    image_shift: int = 0
    # qpos/action std below this are raised to it: a joint that never moves in the
    # demonstrations must not blow up its normalized value at test time.
    std_floor: float = 0.01
    # bf16 autocast for the forward pass where the device computes bf16 natively (CUDA;
    # CPUs with AVX512-BF16 or AMX); fp32 elsewhere. Weights and optimizer stay fp32.
    bf16: bool = True
    tensorboard: bool = True
    # Wall seconds the run may take, from the start of train() (loading the frames
    # included); 0: no limit. With a limit, `steps` is an upper bound: at the end of the
    # warmup (step 50 without one) the run times its own steps, one validation and one
    # checkpoint, and keeps as many steps as fit (steps_within_budget); the cosine schedule
    # then spans those. Every later validation or checkpoint times the loop again and
    # shortens the run where steps got slower. Measured in the run, not on a synthetic
    # step: a synthetic step predicted 0.21 s where the loop took 0.33 on an AMX Xeon, and
    # make demo ran over its 30 minutes. `act demo` sets it on the CPU, whose type (and so
    # speed) varies.
    time_budget_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ('steps', 'batch_size', 'val_samples', 'checkpoint_every', 'log_every', 'early_steps_weight'):
            value = getattr(self, name)
            _check(_is_int(value) and value > 0, f'train.{name} must be a positive integer, got {value!r}')
        object.__setattr__(self, 'snapshot_steps', tuple(self.snapshot_steps))
        _check(all(_is_int(k) and k > 0 for k in self.snapshot_steps),
               f'train.snapshot_steps must be positive integers, got {list(self.snapshot_steps)}')
        for name in ('warmup_steps', 'val_every', 'num_workers', 'seed', 'early_steps', 'image_shift'):
            value = getattr(self, name)
            _check(_is_int(value) and value >= 0, f'train.{name} must be an integer >= 0, got {value!r}')
        for name in ('lr', 'backbone_lr'):
            value = getattr(self, name)
            _check(_is_number(value) and value >= 0.0, f'train.{name} must be >= 0, got {value!r}')
        for name in ('weight_decay', 'grad_clip_norm', 'qpos_noise_std', 'time_budget_s'):
            value = getattr(self, name)
            _check(_is_number(value) and value >= 0.0, f'train.{name} must be >= 0, got {value!r}')
        _check(_is_number(self.qpos_dropout) and 0.0 <= self.qpos_dropout < 1.0,
               f'train.qpos_dropout must be in [0, 1), got {self.qpos_dropout!r}')
        _check(self.lr_schedule in LR_SCHEDULES, f'train.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}')
        _check(_is_number(self.val_fraction) and 0.0 <= self.val_fraction < 1.0,
               f'train.val_fraction must be in [0, 1), got {self.val_fraction!r}')
        _check(self.device in DEVICES, f'train.device must be one of {DEVICES}, got {self.device!r}')
        _check(_is_number(self.memory_budget_gb) and self.memory_budget_gb >= 0.0,
               f'train.memory_budget_gb must be >= 0, got {self.memory_budget_gb!r}')
        _check(_is_number(self.std_floor) and self.std_floor > 0.0, f'train.std_floor must be > 0, got {self.std_floor!r}')
        _check(isinstance(self.bf16, bool), f'train.bf16 must be true or false, got {self.bf16!r}')
        _check(isinstance(self.tensorboard, bool), f'train.tensorboard must be true or false, got {self.tensorboard!r}')


# Fields that may differ between a run and its `--resume`: they do not change what is
# computed at a given step, only how long the run goes on, how it logs and where it runs.
RESUMABLE_TRAIN_FIELDS = frozenset({
    'steps', 'val_every', 'val_samples', 'checkpoint_every', 'log_every', 'device',
    'num_workers', 'memory_budget_gb', 'tensorboard', 'snapshot_steps', 'time_budget_s',
})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def config_to_dict(config: ModelConfig | TrainConfig) -> dict[str, Any]:
    """Plain JSON-able dict (tuples become lists)."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(config).items()}


def _from_mapping(cls, data: Mapping[str, Any], where: str):
    if not isinstance(data, Mapping):
        raise ConfigError(f'{where}: expected a mapping, got {type(data).__name__}')
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f'{where}: unknown field(s) {unknown}; known: {sorted(known)}')
    values = dict(data)
    # YAML writes 1e-5 as a string unless it has a dot (1.0e-5); accept both spellings.
    for f in fields(cls):
        if f.name in values and f.type in ('float', float) and isinstance(values[f.name], str):
            try:
                values[f.name] = float(values[f.name])
            except ValueError:
                pass
        if f.name in values and f.type in ('float', float) and _is_int(values[f.name]):
            values[f.name] = float(values[f.name])
    return cls(**values)


def model_config_from_dict(data: Mapping[str, Any], where: str = 'model') -> ModelConfig:
    return _from_mapping(ModelConfig, data, where)


def train_config_from_dict(data: Mapping[str, Any], where: str = 'train') -> TrainConfig:
    return _from_mapping(TrainConfig, data, where)


def parse_override(text: str) -> tuple[str, str, Any]:
    """`model.dim_model=256` -> ('model', 'dim_model', 256); the value is parsed as YAML."""
    import yaml

    key, sep, raw = text.partition('=')
    section, dot, name = key.strip().partition('.')
    if not sep or not dot or section not in ('model', 'train') or not name:
        raise ConfigError(f'override {text!r}: expected model.<field>=<value> or train.<field>=<value>')
    try:
        value = yaml.safe_load(raw) if raw.strip() else ''
    except yaml.YAMLError as error:
        raise ConfigError(f'override {text!r}: value is not valid YAML: {error}') from error
    return section, name, value


def apply_overrides(model_config: ModelConfig, train_config: TrainConfig,
                    overrides: Sequence[str]) -> tuple[ModelConfig, TrainConfig]:
    """Applies `section.field=value` overrides (validated like the YAML)."""
    sections = {'model': config_to_dict(model_config), 'train': config_to_dict(train_config)}
    for text in overrides:
        section, name, value = parse_override(text)
        sections[section][name] = value
    return (model_config_from_dict(sections['model'], 'model (with overrides)'),
            train_config_from_dict(sections['train'], 'train (with overrides)'))


def load_training_configs(path: str | Path | None = None, overrides: Sequence[str] = ()) -> tuple[ModelConfig, TrainConfig]:
    """Reads a training YAML (`model:` and `train:` sections, both optional) and applies
    `section.field=value` overrides on top. No file: the paper's defaults."""
    import yaml

    document: dict[str, Any] = {}
    where = 'config'
    if path is not None:
        path = Path(path)
        where = str(path)
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except OSError as error:
            raise ConfigError(f'{path}: cannot read training config: {error}') from error
        except yaml.YAMLError as error:
            raise ConfigError(f'{path}: not valid YAML: {error}') from error
        if not isinstance(document, Mapping):
            raise ConfigError(f'{path}: expected a mapping with model: and train: sections')
        unknown = sorted(set(document) - {'model', 'train'})
        if unknown:
            raise ConfigError(f'{path}: unknown section(s) {unknown}; expected model: and train:')
    model_config = model_config_from_dict(dict(document.get('model') or {}), f'{where}: model')
    train_config = train_config_from_dict(dict(document.get('train') or {}), f'{where}: train')
    return apply_overrides(model_config, train_config, overrides) if overrides else (model_config, train_config)


@dataclass(frozen=True)
class DatasetInfo:
    """What a checkpoint remembers of the episodes it was trained on."""

    vector_names: tuple[str, ...]
    camera_names: tuple[str, ...]
    control_rate_hz: float
    train_episodes: tuple[str, ...] = ()
    val_episodes: tuple[str, ...] = ()
    robot: str = ''
    task: str = ''
    # Per episode file name: its number of steps (a resume checks the data is unchanged).
    episode_lengths: Mapping[str, int] = field(default_factory=dict)
    # Per camera: (height, width) of the recorded frames, before the model's resize.
    camera_sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # How a simulator rendered the episodes (act_sim.rendering.RenderSettings.to_dict(),
    # from the episodes' `render_settings` attribute); None: not recorded (real cameras,
    # older data). `act eval` renders with these.
    render_settings: Mapping[str, Any] | None = None

    @property
    def control_period_s(self) -> float:
        return 1.0 / self.control_rate_hz

    def to_dict(self) -> dict[str, Any]:
        return {
            'vector_names': list(self.vector_names), 'camera_names': list(self.camera_names),
            'control_rate_hz': self.control_rate_hz, 'train_episodes': list(self.train_episodes),
            'val_episodes': list(self.val_episodes), 'robot': self.robot, 'task': self.task,
            'episode_lengths': dict(self.episode_lengths),
            'camera_sizes': {name: list(size) for name, size in self.camera_sizes.items()},
            'render_settings': None if self.render_settings is None else dict(self.render_settings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'DatasetInfo':
        return cls(
            vector_names=tuple(data['vector_names']), camera_names=tuple(data['camera_names']),
            control_rate_hz=float(data['control_rate_hz']),
            train_episodes=tuple(data.get('train_episodes', ())), val_episodes=tuple(data.get('val_episodes', ())),
            robot=str(data.get('robot', '')), task=str(data.get('task', '')),
            episode_lengths={str(k): int(v) for k, v in dict(data.get('episode_lengths', {})).items()},
            camera_sizes={str(k): (int(v[0]), int(v[1])) for k, v in dict(data.get('camera_sizes') or {}).items()},
            render_settings=None if data.get('render_settings') is None else dict(data['render_settings']),
        )
