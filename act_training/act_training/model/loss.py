"""ACT's objective: L1 (or smooth L1, ModelConfig.action_loss) on the action chunk (steps
past the episode end masked out), plus kl_weight times the KL divergence of the CVAE
posterior from the standard normal prior, plus, where ModelConfig.image_aux_weight > 0,
that weight times the same action loss on the image-only auxiliary chunk."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from act_training.config import ACTION_LOSSES


@dataclass
class LossTerms:
    loss: torch.Tensor  # action loss + kl_weight * kl (+ image_aux_weight * image_aux), the value minimized
    l1: torch.Tensor  # the chunk's L1, whichever action loss is minimized: the figure logged and compared
    kl: torch.Tensor
    image_aux: torch.Tensor  # action loss of the image-only auxiliary chunk; 0 without one


def masked_l1(predicted: torch.Tensor, target: torch.Tensor, is_pad: torch.Tensor) -> torch.Tensor:
    """(B, S, D), (B, S, D), (B, S) -> scalar: |error| averaged over all B*S*D entries,
    padded steps counting as zero error. Dividing by the full count (as the paper's code
    does) gives every sample the same weight, so the mean over a batch split across DDP
    ranks equals the mean over the whole batch."""
    errors = (predicted - target).abs() * (~is_pad)[..., None]  # (B, S, D)
    return errors.mean()


def masked_smooth_l1(predicted: torch.Tensor, target: torch.Tensor, is_pad: torch.Tensor, beta: float) -> torch.Tensor:
    """(B, S, D), (B, S, D), (B, S) -> scalar: the Huber loss of each entry's error e
    (0.5 e^2 / beta where |e| < beta, |e| - 0.5 beta elsewhere), averaged over all entries
    like masked_l1."""
    errors = torch.nn.functional.smooth_l1_loss(predicted, target, reduction='none', beta=beta)  # (B, S, D)
    return (errors * (~is_pad)[..., None]).mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dims, averaged over the batch:
    0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)."""
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)  # (B, L)
    return per_dim.sum(dim=-1).mean()


def act_loss(predicted: torch.Tensor, target: torch.Tensor, is_pad: torch.Tensor,
             mu: torch.Tensor | None, logvar: torch.Tensor | None, kl_weight: float,
             image_aux: torch.Tensor | None = None, image_aux_weight: float = 0.0, action_loss: str = 'l1',
             smooth_l1_beta: float = 1.0) -> LossTerms:
    """predicted, target: (B, S, D) normalized chunks; is_pad: (B, S); mu, logvar: (B, L) or
    None (no CVAE); image_aux: (B, S, D), the image-only auxiliary chunk
    (ModelConfig.image_aux_weight), or None. action_loss: 'l1' or 'smooth_l1'
    (ModelConfig.action_loss says why), for the chunk and the auxiliary chunk alike."""
    # Losses in fp32 even under autocast: sums over 1e5 entries lose digits in bf16.
    if action_loss not in ACTION_LOSSES:
        raise ValueError(f'action_loss must be one of {ACTION_LOSSES}, got {action_loss!r}')

    def chunk_loss(chunk: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        if action_loss == 'l1':
            return masked_l1(chunk.float(), target.float(), pad)
        return masked_smooth_l1(chunk.float(), target.float(), pad, smooth_l1_beta)

    l1 = masked_l1(predicted.float(), target.float(), is_pad)
    action = l1 if action_loss == 'l1' else chunk_loss(predicted, is_pad)
    kl = kl_divergence(mu.float(), logvar.float()) if mu is not None else l1.new_zeros(())
    aux = l1.new_zeros(())
    if image_aux is not None:
        aux = chunk_loss(image_aux, is_pad)
    return LossTerms(loss=action + kl_weight * kl + image_aux_weight * aux, l1=l1, kl=kl, image_aux=aux)
