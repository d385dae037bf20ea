"""The style-label table of a denoiser with LoRA adapters: base rows, adapter rows, a blend, the null row.

See :mod:`audiogen.models.lora` for how adapters use it.
"""

from __future__ import annotations

import dataclasses
import re

import torch
import torch.nn.functional as F
from torch import nn


class StyleTable(nn.Module):
    """The denoiser's label embedding with extra style rows from adapters, ``(labels,) -> (labels, dim)``.

    Table order: the base's style rows, each adapter's style rows (load order), the blended row of
    the stack (when two or more adapters carry styles), then the base's null row, so the null label
    stays ``num_classes`` (the last index). Adapter rows are scaled by their adapter's strength as
    described in the module docstring.

    Args:
        base: the base ``nn.Embedding`` ``(num_base_styles + 1, dim)`` (last row: null).
    """

    def __init__(self, base: nn.Embedding) -> None:
        super().__init__()
        self.base = base
        self.rows = nn.ParameterDict()
        self.owners: list[tuple[str, str, str]] = []  # (row key, adapter, style)
        self.strengths: dict[str, float] = {}

    def add(self, adapter: str, style: str, row: torch.Tensor, trainable: bool = False) -> None:
        """Add ``style``'s row ``(dim,)`` for ``adapter``."""
        key = f"r{len(self.owners)}_{re.sub(r'[^0-9A-Za-z_]', '_', adapter)}"
        self.rows[key] = nn.Parameter(row.detach().clone().reshape(-1), requires_grad=trainable)
        self.owners.append((key, adapter, style))
        self.strengths.setdefault(adapter, 1.0)

    def remove(self, adapter: str) -> None:
        """Drop every row of ``adapter``."""
        for key, _, _ in [o for o in self.owners if o[1] == adapter]:
            del self.rows[key]
        self.owners = [o for o in self.owners if o[1] != adapter]
        self.strengths.pop(adapter, None)

    @property
    def adapter_styles(self) -> list[str]:
        """The styles the adapters add (load order)."""
        return [style for _, _, style in self.owners]

    @property
    def blend_style(self) -> str | None:
        """``"a+b"``: the stack's blended style, when two or more adapters carry styles; else ``None``."""
        if len({adapter for _, adapter, _ in self.owners}) < 2:
            return None
        return "+".join(self.adapter_styles)

    def _scaled(self, key: str, adapter: str, null: torch.Tensor) -> torch.Tensor:
        s = self.strengths.get(adapter, 1.0)
        row = self.rows[key]
        return row if s == 1.0 else null + s * (row - null)

    def table(self) -> torch.Tensor:
        """The whole label table ``(num_classes + 1, dim)``."""
        weight = self.base.weight
        null = weight[-1]
        extra = [self._scaled(key, adapter, null) for key, adapter, _ in self.owners]
        if self.blend_style is not None:
            offsets = [self.strengths.get(a, 1.0) * (self.rows[k] - null) for k, a, _ in self.owners]
            extra.append(null + torch.stack(offsets).sum(0))
        return torch.cat([weight[:-1], *[r[None] for r in extra], weight[-1:]])

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """Rows of ``labels (batch,)`` → ``(batch, dim)``."""
        return F.embedding(labels, self.table())


def set_labels(denoiser: nn.Module, base_labels: list[str], table: StyleTable) -> None:
    """Set ``denoiser.config``'s labels to the base styles, the table's adapter styles and its blend."""
    labels = [*base_labels, *table.adapter_styles]
    if table.blend_style is not None:
        labels.append(table.blend_style)
    denoiser.config = dataclasses.replace(
        denoiser.config, num_classes=len(labels), class_labels=tuple(labels)
    )


__all__ = ["StyleTable", "set_labels"]
