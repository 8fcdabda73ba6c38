"""`act train`: YAML config plus --set overrides, --resume, and errors as one clear line."""

import json
import sys
from pathlib import Path

import pytest

from act_tools.cli.main import main

# act_training's tests' episode writer (small ACT HDF5 episodes).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'act_training' / 'test'))
from training_episodes import TINY_YAML, episode_arrays, write_episode, write_episodes  # noqa: E402



@pytest.mark.slow  # two training runs through act train
def test_train_then_resume_from_the_command_line(tmp_path, capsys):
    data = write_episodes(tmp_path / 'data', count=3, length=8, height=32, width=32)
    config = tmp_path / 'tiny.yaml'
    config.write_text(TINY_YAML)
    run = tmp_path / 'run'
    assert main(['train', '--data', str(data), '--output', str(run), '--config', str(config),
                 '--set', 'model.latent_dim=4', '--device', 'cpu']) == 0
    out = capsys.readouterr().out
    assert 'act train: 2 steps' in out and f'last checkpoint: {run / "last"}' in out
    saved = json.loads((run / 'last' / 'config.json').read_text())
    assert saved['model']['latent_dim'] == 4 and saved['train']['lr'] == 1e-3 and saved['step'] == 2
    # --resume without --config continues the run with its own config, extended by --set.
    assert main(['train', '--data', str(data), '--output', str(run), '--resume', '--set', 'train.steps=4']) == 0
    saved = json.loads((run / 'last' / 'config.json').read_text())
    assert saved['step'] == 4 and saved['model']['latent_dim'] == 4


def test_train_warns_when_the_policy_does_not_use_its_cameras(tmp_path, capsys, monkeypatch):
    import act_training.train as training
    from act_training.train.trainer import TrainResult
    data = write_episodes(tmp_path / 'data', count=3, length=8, height=32, width=32)
    config = tmp_path / 'tiny.yaml'
    config.write_text(TINY_YAML)

    def trained(probe):
        return TrainResult(output_dir=tmp_path / 'run', last_checkpoint=tmp_path / 'run' / 'last', best_checkpoint=None,
                           steps=2, final_val_l1=0.1, best_val_l1=None, best_step=None, final_train_l1=0.1,
                           final_probe_l1=probe, train_episodes=('a',), val_episodes=('b', 'c'), seconds=1.0,
                           samples_per_s=1.0)

    args = ['train', '--data', str(data), '--output', str(tmp_path / 'run'), '--config', str(config), '--device', 'cpu']
    monkeypatch.setattr(training, 'train', lambda *a, **k: trained({'t0': 0.3, 'mid': 0.1, 't0_spread': 0.0}))
    assert main(args) == 0
    assert 'act train: warning: the chunks predicted at t = 0' in capsys.readouterr().err
    monkeypatch.setattr(training, 'train', lambda *a, **k: trained({'t0': 0.3, 'mid': 0.1, 't0_spread': 0.4}))
    assert main(args) == 0
    assert 'warning' not in capsys.readouterr().err


def test_errors_are_one_clear_line_bad_data_exits_1_and_a_bad_config_2(tmp_path, capsys):
    config = tmp_path / 'tiny.yaml'
    config.write_text(TINY_YAML)
    arrays = episode_arrays(length=6, height=32, width=32)
    arrays['/action'] = arrays['/action'][:5]
    (tmp_path / 'data').mkdir()
    write_episode(tmp_path / 'data' / 'episode_0.hdf5', arrays=arrays)
    code = main(['train', '--data', str(tmp_path / 'data'), '--output', str(tmp_path / 'run'), '--config', str(config)])
    err = capsys.readouterr().err
    assert code == 1 and 'episode_0.hdf5: /action: has 5 steps but /observations/qpos has 6' in err
    assert not (tmp_path / 'run').exists()
    assert main(['train', '--data', str(tmp_path), '--output', str(tmp_path / 'r'), '--config', str(config),
                 '--set', 'model.dim_model=banana']) == 2  # a bad config: exit 2 (act_common.errors)
    assert 'model.dim_model' in capsys.readouterr().err
    assert main(['train', '--data', str(tmp_path), '--output', str(tmp_path / 'r'), '--config', 'no_such_config']) == 2
    assert "unknown training config 'no_such_config'" in capsys.readouterr().err
