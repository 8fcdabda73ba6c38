"""ACT's objective: L1 on the action chunk (steps past the episode end masked out) plus
kl_weight times the KL divergence of the CVAE posterior from the standard normal prior."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossTerms:
    loss: torch.Tensor  # l1 + kl_weight * kl, the value that is minimized
    l1: torch.Tensor
    kl: torch.Tensor


def masked_l1(predicted: torch.Tensor, target: torch.Tensor, is_pad: torch.Tensor) -> torch.Tensor:
    """(B, S, D), (B, S, D), (B, S) -> scalar: |error| averaged over all B*S*D entries,
    padded steps counting as zero error. Dividing by the full count (as the paper's code
    does) gives every sample the same weight, so the mean over a batch split across DDP
    ranks equals the mean over the whole batch."""
    errors = (predicted - target).abs() * (~is_pad)[..., None]  # (B, S, D)
    return errors.mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dims, averaged over the batch:
    0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)."""
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)  # (B, L)
    return per_dim.sum(dim=-1).mean()


def act_loss(predicted: torch.Tensor, target: torch.Tensor, is_pad: torch.Tensor,
             mu: torch.Tensor | None, logvar: torch.Tensor | None, kl_weight: float) -> LossTerms:
    # Losses in fp32 even under autocast: sums over 1e5 entries lose digits in bf16.
    l1 = masked_l1(predicted.float(), target.float(), is_pad)
    kl = kl_divergence(mu.float(), logvar.float()) if mu is not None else l1.new_zeros(())
    return LossTerms(loss=l1 + kl_weight * kl, l1=l1, kl=kl)
