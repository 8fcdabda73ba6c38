"""torch.distributed setup for `torchrun` launches (DDP); a single process otherwise.

torchrun sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; NCCL is used on
GPUs, gloo on the CPU (which is how multi-process training is tested without a GPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def from_main(self, value: int) -> int:
        """Rank 0's value on every rank (a decision rank 0 alone can make); value itself
        in a single process."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.broadcast(tensor, src=0)
        return int(tensor.item())


def resolve_device(setting: str, local_rank: int = 0) -> torch.device:
    if setting == 'auto':
        setting = 'cuda' if torch.cuda.is_available() else 'cpu'
    if setting == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError('train.device is cuda but torch sees no CUDA device (use --device cpu)')
        return torch.device('cuda', local_rank % torch.cuda.device_count())
    return torch.device('cpu')


def setup_distributed(device_setting: str) -> DistContext:
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = resolve_device(device_setting, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == 'cuda':
            torch.cuda.set_device(device)
        dist.init_process_group(backend='nccl' if device.type == 'cuda' else 'gloo')
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown_distributed(context: DistContext) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
