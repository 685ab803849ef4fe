"""``SFTTrainer`` that counts the tokens its loss is computed on, for target tokens/s."""

from __future__ import annotations

from typing import Any

from trl import SFTTrainer

from dsr.training.progress import TokenCounter


class CountingSFTTrainer(SFTTrainer):
    """Adds every training micro-batch's target and input token counts to ``self.counter``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counter = TokenCounter()

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        if model.training:
            labels = inputs["labels"]
            self.counter.target += int((labels[..., 1:] != -100).sum())  # position t predicts token t + 1
            mask = inputs.get("attention_mask")
            self.counter.total += int(mask.sum()) if mask is not None else int(labels.numel())
        return super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )
