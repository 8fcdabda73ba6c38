"""Configs: the paper's defaults, validation naming field and value, YAML and overrides."""

from pathlib import Path

import pytest

from act_training.config import (ConfigError, ModelConfig, TrainConfig, apply_overrides, load_training_configs,
                                 model_config_from_dict)

TRAINING_CONFIGS = Path(__file__).resolve().parents[2] / 'act_training' / 'config' / 'training'


def test_defaults_are_the_papers():
    model, train = ModelConfig(), TrainConfig()
    assert (model.chunk_size, model.dim_model, model.n_heads, model.dim_feedforward) == (100, 512, 8, 3200)
    assert (model.n_encoder_layers, model.latent_dim, model.kl_weight, model.dropout) == (4, 32, 10.0, 0.1)
    assert model.backbone_weights == 'imagenet'
    assert (train.lr, train.backbone_lr, train.weight_decay, train.batch_size) == (1e-5, 1e-5, 1e-4, 8)


@pytest.mark.parametrize('kwargs, words', [
    ({'chunk_size': 0}, ['model.chunk_size', '0']),
    ({'dim_model': 510, 'n_heads': 8}, ['model.dim_model', '510', 'n_heads']),
    ({'dropout': 1.5}, ['model.dropout', '1.5']),
    ({'image_height': 16}, ['model.image_height', '16']),
    ({'camera_names': ['top', 'top']}, ['model.camera_names', 'unique']),
    ({'state_dim': -3}, ['model.state_dim', '-3']),
    ({'backbone_weights': ''}, ['model.backbone_weights']),
    ({'action_loss': 'l2'}, ['model.action_loss', 'l2', 'smooth_l1']),
    ({'smooth_l1_beta': 0}, ['model.smooth_l1_beta', '0']),
    ({'image_aux_weight': -1}, ['model.image_aux_weight', '-1']),
])
def test_model_config_errors_name_field_and_value(kwargs, words):
    with pytest.raises(ConfigError) as error:
        ModelConfig(**kwargs)
    for word in words:
        assert word in str(error.value)


@pytest.mark.parametrize('kwargs, words', [
    ({'batch_size': 0}, ['train.batch_size', '0']),
    ({'lr_schedule': 'linear'}, ['train.lr_schedule', 'linear']),
    ({'val_fraction': 1.0}, ['train.val_fraction', '1.0']),
    ({'device': 'tpu'}, ['train.device', 'tpu']),
    ({'lr': float('nan')}, ['train.lr', 'nan']),
])
def test_train_config_errors_name_field_and_value(kwargs, words):
    with pytest.raises(ConfigError) as error:
        TrainConfig(**kwargs)
    for word in words:
        assert word in str(error.value)


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / 'run.yaml'
    path.write_text('model:\n  dim_model: 256\n  camera_names: [top, angle]\ntrain:\n  lr: 1e-4\n  steps: 50\n')
    model, train = load_training_configs(path, ['train.steps=70', 'model.chunk_size=20'])
    assert model.dim_model == 256 and model.camera_names == ('top', 'angle') and model.chunk_size == 20
    assert train.lr == 1e-4 and train.steps == 70


def test_unknown_fields_and_sections_are_named(tmp_path):
    path = tmp_path / 'run.yaml'
    path.write_text('model:\n  dim_modle: 256\n')
    with pytest.raises(ConfigError, match=r'run\.yaml: model: unknown field\(s\) \[.dim_modle.\]'):
        load_training_configs(path)
    path.write_text('optim:\n  lr: 1\n')
    with pytest.raises(ConfigError, match='unknown section'):
        load_training_configs(path)
    with pytest.raises(ConfigError, match='model.<field>=<value>'):
        apply_overrides(ModelConfig(), TrainConfig(), ['steps=3'])


@pytest.mark.parametrize('name', ['paper', 'cpu_demo'])
def test_shipped_training_configs_load(name):
    model, train = load_training_configs(TRAINING_CONFIGS / f'{name}.yaml')
    assert model.camera_names == ('top',)
    assert train.steps > 0


def test_paper_yaml_is_the_paper_config():
    model, train = load_training_configs(TRAINING_CONFIGS / 'paper.yaml')
    defaults = ModelConfig(camera_names=('top',))
    assert model == defaults
    assert (train.lr, train.backbone_lr, train.weight_decay, train.batch_size) == (1e-5, 1e-5, 1e-4, 8)


def test_round_trip_through_dict():
    model = ModelConfig(camera_names=('a', 'b'), state_dim=7, action_dim=7)
    from act_training.config import config_to_dict
    assert model_config_from_dict(config_to_dict(model)) == model
