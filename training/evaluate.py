"""Mean NLL / perplexity on target tokens, and generated samples, for the model card.

The NLL is summed over every target token of the split and divided by their count (a true token mean,
DSR-SPEC 7 "loss normalization"), on the same tokenized, truncated rows the trainer uses. Logits are
computed only at the positions that predict a target token (``logits_to_keep``), so long prompts cost no
vocabulary-sized activations.
"""

from __future__ import annotations

import math
from typing import Any


def target_nll(model: Any, rows: Any) -> dict[str, float]:
    """``rows`` have ``input_ids`` and ``labels`` (-100 = not a target); returns nll, perplexity, tokens."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row["input_ids"]], device=device)
            labels = torch.tensor(row["labels"], device=device)
            positions = (labels[1:] != -100).nonzero().flatten()  # position t predicts token t + 1
            if positions.numel() == 0:
                continue
            logits = model(input_ids=ids, logits_to_keep=positions).logits[0].float()
            total += float(torch.nn.functional.cross_entropy(logits, labels[positions + 1], reduction="sum"))
            count += int(positions.numel())
    if was_training:
        model.train()
    nll = total / count if count else float("nan")
    return {
        "nll": round(nll, 5),
        "perplexity": round(math.exp(nll), 4) if count else float("nan"),
        "tokens": count,
    }


def generate_samples(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    *,
    max_new_tokens: int,
    seed: int,
    synced_gpus: bool,
) -> list[dict[str, Any]]:
    """The model's answer to each row's prompt at the paper's sampling settings (T 0.7, top-p 0.9, B.4.2)."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    samples = []
    for row in rows:
        encoded = tokenizer.apply_chat_template(
            row["prompt"], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        ids = encoded["input_ids"].to(device)
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=True,
                temperature=0.7,
                top_p=0.9,
                pad_token_id=tokenizer.pad_token_id,
                synced_gpus=synced_gpus,
            )
        text = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        samples.append({"id": row["id"], "generated": text, "reference": row["completion"][0]["content"]})
    return samples
