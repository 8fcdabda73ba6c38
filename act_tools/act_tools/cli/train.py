"""`act train`: train an ACT policy on a folder of converted episodes.

    act train --data episodes/cube --output runs/cube --config cpu_demo
    act train --data DIR --output DIR --config paper --device cuda --set train.steps=20000
    act train --data DIR --output DIR --resume                 # continue runs/cube/last
    torchrun --nproc_per_node 2 --no-python act train ...      # DDP, one process per GPU
"""

from __future__ import annotations

import sys


def handle(args) -> int:
    import logging
    import os

    from act_common.errors import EXIT_FAILURE, ActError

    from act_tools.paths import training_config_path
    from act_training.config import apply_overrides, load_training_configs
    from act_training.train import train
    from act_training.train.checkpoint import load_checkpoint_configs
    from act_training.train.optim import flush_denormals
    from act_training.train.trainer import blind_warning

    flush_denormals()  # before any torch op, so that torch's worker threads inherit it
    rank = int(os.environ.get('RANK', '0'))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, format='[act train] %(message)s')
    overrides = list(args.set) + ([f'train.device={args.device}'] if args.device else [])
    try:
        if args.resume and args.config is None:
            # Continue with the run's own configs; --set may still extend it (train.steps).
            model_config, train_config = apply_overrides(*load_checkpoint_configs(os.path.join(args.output, 'last')), overrides)
        else:
            path = training_config_path(args.config) if args.config else None
            model_config, train_config = load_training_configs(path, overrides)
        result = train(model_config, train_config, args.data, args.output,
                       progress='bar' if rank == 0 else None, resume=args.resume)
    except FileNotFoundError as error:  # a missing data folder or run; ActErrors go to cli.main
        if isinstance(error, ActError):
            raise
        print(f'act train: {error}', file=sys.stderr)
        return EXIT_FAILURE
    if rank == 0:
        best = f'{result.best_val_l1:.4f} at step {result.best_step}' if result.best_val_l1 is not None else 'n/a (no validation episodes)'
        print(f'act train: {result.steps} steps in {result.seconds:.0f} s ({result.samples_per_s:.1f} samples/s); '
              f'final train L1 {result.final_train_l1:.4f}; best validation L1 {best}')
        print(f'  last checkpoint: {result.last_checkpoint}')
        if result.best_checkpoint is not None:
            print(f'  best checkpoint: {result.best_checkpoint}')
        warning = blind_warning(result.final_probe_l1)
        if warning is not None:
            print(f'act train: warning: {warning}', file=sys.stderr)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'train', help='train an ACT policy on converted episodes (HDF5)',
        description='Train ACT on a folder of episode_<index>.hdf5 files. Checkpoints go to OUTPUT/last '
        '(resumable) and OUTPUT/best (lowest validation L1); TensorBoard scalars to OUTPUT/tensorboard.')
    parser.add_argument('--data', required=True,
                        help='folder of episode_<index>.hdf5 files (ACT or ALOHA 2 JPEG layout), or a LeRobotDataset '
                        'v3.0 folder (decoded once into OUTPUT/lerobot_import)')
    parser.add_argument('--output', required=True, help='run folder (checkpoints, TensorBoard logs)')
    parser.add_argument('--config', default=None,
                        help='training YAML: a name from act_training/config/training (paper, cpu_demo) or a path; '
                        'default: the built-in defaults of act_training.config (with --resume: the run\'s own config)')
    parser.add_argument('--set', action='append', default=[], metavar='SECTION.FIELD=VALUE',
                        help='override a config field, e.g. --set train.steps=2000 --set model.chunk_size=50 (repeatable)')
    parser.add_argument('--resume', action='store_true', help='continue the run in OUTPUT/last exactly where it stopped')
    from act_training.config import DEVICES

    parser.add_argument('--device', choices=DEVICES, default=None,
                        help='where to train (default: the config\'s train.device, auto = cuda when available)')
    parser.set_defaults(handler=handle)
