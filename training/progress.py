"""Training progress: a rich bar (loss, target tokens/s, ETA) and ``MODEL_DIR/train_log.jsonl``.

With preference tuning (``--method dpo|grpo``) the bar and the log also carry the reward: GRPO's mean
critic reward of the step's samples (``reward``, ``reward_std``), DPO's implicit reward margin between the
chosen and the rejected answer (``rewards/margins``); the critic's rewards of DPO's samples are logged
before training, one ``samples`` event per prompt.

Target tokens are the tokens the loss is computed on (directives + prose), counted by the trainer in
``compute_loss``; throughput in those is what matters for SFT, not prompt tokens. The log is rewritten
atomically on every event, so a kill never leaves a torn line; a resumed run keeps the lines up to the
checkpoint it resumed from.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from transformers import TrainerCallback

from dsr.common.fsutil import atomic_write


@dataclass
class TokenCounter:
    """Tokens seen by this process since it started (the trainer adds to it every micro-batch)."""

    target: int = 0
    total: int = 0


def read_log(path: Path, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """Log events, optionally only those at or before ``up_to_step`` (what a resume keeps)."""
    if not path.is_file():
        return []
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [e for e in events if up_to_step is None or e.get("step", 0) <= up_to_step]


def reward_text(logs: dict[str, Any]) -> str:
    """What the bar shows of a step's reward: GRPO's critic reward, or DPO's chosen-minus-rejected margin."""
    if "reward" in logs:
        return f"reward {float(logs['reward']):.2f} ± {float(logs.get('reward_std', 0.0)):.2f}"
    if "rewards/margins" in logs:
        return f"margin {float(logs['rewards/margins']):.3f}"
    return ""


class TrainProgress(TrainerCallback):
    """Shows and logs progress on the main process; other processes of a multi-GPU run stay quiet."""

    def __init__(self, counter: TokenCounter, log_path: Path, console: Console, world_size: int = 1):
        self.counter = counter
        self.log_path = log_path
        self.console = console
        self.world_size = world_size
        self.events: list[dict[str, Any]] = []
        self.progress: Progress | None = None
        self.task: Any = None
        self.started = 0.0
        self.start_step = 0
        self.last_loss: float | None = None
        self.last_reward = "-"

    def add_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        atomic_write(self.log_path, "".join(json.dumps(e) + "\n" for e in self.events))

    def _rates(self, step: int, max_steps: int) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        done = step - self.start_step
        eta = (max_steps - step) * elapsed / done if done > 0 else float("nan")
        # every process trains on its own micro-batches; the global rate is about world_size times ours
        return {
            "target_tokens_per_s": round(self.counter.target * self.world_size / elapsed, 2),
            "tokens_per_s": round(self.counter.total * self.world_size / elapsed, 2),
            "elapsed_s": round(elapsed, 2),
            "eta_s": round(eta, 1) if done > 0 else -1.0,
        }

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self.events = read_log(self.log_path, up_to_step=state.global_step)
        self.started = time.perf_counter()
        self.start_step = state.global_step
        if state.global_step:
            self.add_event({"event": "resumed", "step": state.global_step, "time": time.time()})
        self.progress = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[reward]}"),
            TextColumn("{task.fields[tps]} target tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task = self.progress.add_task(
            "steps", total=state.max_steps, completed=state.global_step, loss="-", tps="-", reward=""
        )
        self.progress.start()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is None:
            return
        rates = self._rates(state.global_step, state.max_steps)
        loss = f"{self.last_loss:.3f}" if self.last_loss is not None else "-"
        self.progress.update(
            self.task,
            completed=state.global_step,
            loss=loss,
            tps=f"{rates['target_tokens_per_s']:.0f}",
            reward=self.last_reward,
        )

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        if "loss" in logs:
            self.last_loss = float(logs["loss"])
        self.last_reward = reward_text(logs) or self.last_reward
        event = {
            "step": state.global_step,
            "epoch": state.epoch,
            **logs,
            **self._rates(state.global_step, state.max_steps),
        }
        event["target_tokens"] = self.counter.target * self.world_size
        self.add_event(event | {"time": time.time()})

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
