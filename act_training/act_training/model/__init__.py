"""The ACT network (Zhao et al. 2023): a ResNet-18 per camera, a CVAE encoder used only
in training, and a DETR-style transformer that decodes a chunk of actions."""

from act_training.model.act import ActModel, ActOutput, build_model
from act_training.model.loss import LossTerms, act_loss, kl_divergence, masked_l1

__all__ = ['ActModel', 'ActOutput', 'LossTerms', 'act_loss', 'build_model', 'kl_divergence', 'masked_l1']
