"""DETR-style transformer layers: position embeddings enter every attention as an additive
term on queries and keys (never on values), post-norm by default as in ACT's code.

How this differs from torch.nn.Transformer and from DETR's code, and why:
- Batch-first (B, S, D) throughout; attention runs through F.scaled_dot_product_attention
  (fused kernels on CPU and GPU, no attention-weight tensor is kept), except in CPU
  training with dropout, where it is written out so that `dropout` drops the weights.
- On the CPU, dropout draws its mask as uniform floats compared with p, not as Bernoulli
  samples: the same distribution, and PyTorch's CPU bernoulli_ is the slow part (measured
  40 % less time for the forward and backward of ACT's feed-forward dropout). On CUDA it
  is F.dropout, fused there. A mask from 15-bit integer draws (two per 32-bit word) was
  tried and reverted: the paper-config step went from 3.63 to 3.50 s with it on the
  model-167 Xeon, the CPU demo's step 2-3 %, but at an AVX2-only CPU's speed (emulated,
  about 1400 fp32 steps, the same 45 episodes and training seeds 1 and 2) its policies
  solved 30/60 unseen seeds in lockstep against 44/60 with these uniform masks. The two
  masks are alike in every statistic checked (drop rate per position, pairs within a word,
  successive calls), so that gap may be chance, but the masks in use are the ones the
  demo's success was measured with.
- The transformer's matrices are OneDnnLinear (act_training.model.onednn): nn.Linear,
  faster on this project's CPUs.
- Q, K and V come from one packed projection of x. The position term is projected
  separately, pos @ W_qk, once per forward instead of once per batch element: the same
  function as projecting (x + pos), because the projection is linear. At inference the
  positions are constant, so these projections are computed once at load time.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from act_training.model.onednn import OneDnnLinear


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout: zeroes each entry with probability p, scales the rest by
    1 / (1 - p). On the CPU the mask is built in place in one float buffer.

    Raises ValueError unless 0 <= p < 1 (ModelConfig.dropout's range)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f'dropout probability must be in [0, 1), got {p!r}')
    if p == 0.0:
        return x
    if x.device.type != 'cpu':
        return F.dropout(x, p, training=True)
    mask = torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))  # (x.shape) 0 or 1 / (1 - p)
    return x * mask


class Dropout(nn.Module):
    """nn.Dropout's behaviour (identity in eval mode) with the mask of `dropout`."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p) if self.training else x


class Attention(nn.Module):
    """Multi-head attention with packed q/k/v weights (same layout as nn.MultiheadAttention)."""

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        self.dim = dim
        self.n_heads = n_heads
        self.dropout = dropout
        self.in_proj = OneDnnLinear(dim, 3 * dim)
        self.out_proj = OneDnnLinear(dim, dim)

    def project_pos_qk(self, pos: torch.Tensor) -> torch.Tensor:
        """(..., S, D) positions -> (..., S, 2D): their contribution to queries and keys."""
        return F.linear(pos, self.in_proj.weight[: 2 * self.dim])

    def project_pos_q(self, pos: torch.Tensor) -> torch.Tensor:
        """(..., S, D) -> (..., S, D): the positions' contribution to queries only."""
        return F.linear(pos, self.in_proj.weight[: self.dim])

    def project_pos_k(self, pos: torch.Tensor) -> torch.Tensor:
        """(..., S, D) -> (..., S, D): the positions' contribution to keys only."""
        return F.linear(pos, self.in_proj.weight[self.dim: 2 * self.dim])

    def project_q(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.in_proj.weight[: self.dim], self.in_proj.bias[: self.dim])

    def project_kv(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.in_proj.weight[self.dim:], self.in_proj.bias[self.dim:])

    def self_attention(self, x: torch.Tensor, pos_qk: torch.Tensor | None,
                       key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, S, D); pos_qk: (S, 2D) or (B, S, 2D) from project_pos_qk, or None."""
        qkv = self.in_proj(x)  # (B, S, 3D)
        q, k, v = qkv.split(self.dim, dim=-1)
        if pos_qk is not None:
            pos_q, pos_k = pos_qk.split(self.dim, dim=-1)
            q, k = q + pos_q, k + pos_k
        return self._attend(q, k, v, key_padding_mask)

    def cross_attention(self, q: torch.Tensor, kv: torch.Tensor, pos_k: torch.Tensor | None) -> torch.Tensor:
        """q: (B, Sq, D) projected queries; kv: (B, Sk, 2D) projected keys/values."""
        k, v = kv.split(self.dim, dim=-1)
        if pos_k is not None:
            k = k + pos_k
        return self._attend(q, k, v, None)

    def _attend(self, q, k, v, key_padding_mask):
        batch, q_len, _ = q.shape
        heads, head_dim = self.n_heads, self.dim // self.n_heads
        q = q.view(batch, q_len, heads, head_dim).transpose(1, 2)  # (B, H, Sq, Dh)
        k = k.view(batch, -1, heads, head_dim).transpose(1, 2)  # (B, H, Sk, Dh)
        v = v.view(batch, -1, heads, head_dim).transpose(1, 2)  # (B, H, Sk, Dh)
        if self.training and self.dropout > 0 and q.device.type == 'cpu':
            scores = (q / math.sqrt(head_dim)) @ k.transpose(-2, -1)  # (B, H, Sq, Sk)
            if key_padding_mask is not None:
                scores = scores.masked_fill(key_padding_mask[:, None, None, :], float('-inf'))
            out = dropout(scores.softmax(dim=-1), self.dropout) @ v  # (B, H, Sq, Dh)
        else:
            attn_mask = None
            if key_padding_mask is not None:
                attn_mask = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, Sk), True = attend
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                                 dropout_p=self.dropout if self.training else 0.0)  # (B, H, Sq, Dh)
        return self.out_proj(out.transpose(1, 2).reshape(batch, q_len, self.dim))  # (B, Sq, D)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.linear1 = OneDnnLinear(dim, hidden)
        self.linear2 = OneDnnLinear(hidden, dim)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # forward_relu: fused into the matmul once the runner has packed linear1 (PackedLinear).
        return self.linear2(self.dropout(self.linear1.forward_relu(x)))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, n_heads: int, dim_feedforward: int, dropout: float, pre_norm: bool):
        super().__init__()
        self.self_attn = Attention(dim, n_heads, dropout)
        self.ffn = FeedForward(dim, dim_feedforward, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.pre_norm = pre_norm

    def forward(self, x: torch.Tensor, pos_qk: torch.Tensor | None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.dropout1(self.self_attn.self_attention(self.norm1(x), pos_qk, key_padding_mask))
            return x + self.dropout2(self.ffn(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self.self_attn.self_attention(x, pos_qk, key_padding_mask)))
        return self.norm2(x + self.dropout2(self.ffn(x)))


class Encoder(nn.Module):
    def __init__(self, n_layers: int, dim: int, n_heads: int, dim_feedforward: int, dropout: float, pre_norm: bool):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(dim, n_heads, dim_feedforward, dropout, pre_norm) for _ in range(n_layers))
        # DETR: a final norm only for pre-norm layers (post-norm output is already normalized).
        self.norm = nn.LayerNorm(dim) if pre_norm else nn.Identity()

    def project_positions(self, pos: torch.Tensor) -> list[torch.Tensor]:
        """Per layer, the (..., S, 2D) query/key position terms."""
        return [layer.self_attn.project_pos_qk(pos) for layer in self.layers]

    def forward(self, x: torch.Tensor, pos_qk_per_layer: list[torch.Tensor] | None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, None if pos_qk_per_layer is None else pos_qk_per_layer[i], key_padding_mask)
        return self.norm(x)


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, n_heads: int, dim_feedforward: int, dropout: float, pre_norm: bool):
        super().__init__()
        self.self_attn = Attention(dim, n_heads, dropout)
        self.cross_attn = Attention(dim, n_heads, dropout)
        self.ffn = FeedForward(dim, dim_feedforward, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.pre_norm = pre_norm

    def self_attention_block(self, t: torch.Tensor, query_pos_qk: torch.Tensor) -> torch.Tensor:
        """The part before cross-attention. It depends on the decoder input only, so for
        the first layer (input = zeros) it is a constant at inference."""
        if self.pre_norm:
            return t + self.dropout1(self.self_attn.self_attention(self.norm1(t), query_pos_qk))
        return self.norm1(t + self.dropout1(self.self_attn.self_attention(t, query_pos_qk)))

    def cross_query(self, t: torch.Tensor, query_pos_q: torch.Tensor) -> torch.Tensor:
        """(B, S, D) projected cross-attention queries, position term included."""
        return self.cross_attn.project_q(self.norm2(t) if self.pre_norm else t) + query_pos_q

    def rest(self, t: torch.Tensor, cross_q: torch.Tensor, memory_kv: torch.Tensor, memory_pos_k: torch.Tensor) -> torch.Tensor:
        """Cross-attention and feed-forward, given the projected queries and memory."""
        attended = self.dropout2(self.cross_attn.cross_attention(cross_q, memory_kv, memory_pos_k))
        if self.pre_norm:
            t = t + attended
            return t + self.dropout3(self.ffn(self.norm3(t)))
        t = self.norm2(t + attended)
        return self.norm3(t + self.dropout3(self.ffn(t)))

    def forward(self, t, memory, query_pos, memory_pos_k):
        t = self.self_attention_block(t, self.self_attn.project_pos_qk(query_pos))
        cross_q = self.cross_query(t, self.cross_attn.project_pos_q(query_pos))
        return self.rest(t, cross_q, self.cross_attn.project_kv(memory), memory_pos_k)


class Decoder(nn.Module):
    """DETR decoder: learned queries (one per chunk step) as position terms, zeros as input."""

    def __init__(self, n_layers: int, dim: int, n_heads: int, dim_feedforward: int, dropout: float, pre_norm: bool):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(dim, n_heads, dim_feedforward, dropout, pre_norm) for _ in range(n_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, memory: torch.Tensor, memory_pos: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
        """memory: (B, N, D); memory_pos: (N, D); query_pos: (S, D) -> (B, S, D)."""
        batch = memory.shape[0]
        t = memory.new_zeros(batch, query_pos.shape[0], memory.shape[-1])  # (B, S, D)
        for layer in self.layers:
            t = layer(t, memory, query_pos, layer.cross_attn.project_pos_k(memory_pos))
        return self.norm(t)
