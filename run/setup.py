"""Setting runs up, in one place for every caller; run/runner.py ``drive`` then drives them all.

New runs (``dsr write``, a season's episodes): :func:`plan_runs` checks everything that needs no model before
anything is written (mode, review points, every role's configuration, the memory location, the checkpoint
store) and gives the context they start from; :func:`begin_run` records one. Runs that exist (``dsr resume``,
a season run again, the writers' room): :func:`reopen_run` reads one back with the models it was started with.
:func:`drive_held` drives a run with its lock held.

``model_factory`` builds every role's model instead of the configured providers. It is the caller's (tests
script models with it, as any program that drives runs may), travels in the run's context, and is never
recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from dsr.common.errors import BadInput
from dsr.contract.context import (
    MODES,
    REVIEW_POINTS,
    ModelFactory,
    ReviewPoint,
    RunContext,
    retry_caps,
    roles_for,
)
from dsr.run.runner import (
    Progress,
    Reviewer,
    RunResult,
    drive,
    initial_input,
    keep_models,
    load_run,
    start_run,
)
from dsr.story.episode_spec import EpisodeSpec


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How new runs behave: what ``dsr write`` and ``dsr season`` take on their command lines."""

    mode: str = "dsr"
    review: tuple[str, ...] = ()
    use_rubric: bool = True
    max_retries: int = 2
    memory: str | None = None  # a directory or a Chroma server URL; None: OUT/memory
    checkpoints: str | None = None  # --checkpoints (else $DSR_CHECKPOINTS, else SQLite per run)
    force: bool = False  # write into OUT (and --memory DIR) even when it holds other files
    model_factory: ModelFactory | None = None


def plan_runs(out: Path, options: RunOptions, *, marker: str, what: str) -> RunContext:
    """The context new runs under ``out`` start from, once every check that needs no model has passed; then
    ``out`` is prepared (refused when it holds files and no ``marker``, unless ``options.force``)."""
    from dsr.common.fsutil import prepare_output_dir
    from dsr.memory.client import memory_location
    from dsr.models.factory import validate_role
    from dsr.models.settings import load_settings
    from dsr.run.checkpoints import choose, prepare

    if options.mode not in MODES:
        raise BadInput(f"unknown mode '{options.mode}'; use one of: {', '.join(MODES)}")
    if unknown := [p for p in options.review if p not in REVIEW_POINTS]:
        raise BadInput(f"unknown review point '{unknown[0]}'; use: {', '.join(REVIEW_POINTS)}")
    mode = options.mode  # a Mode: the check above narrows it
    settings = load_settings()  # configuration problems surface before anything is written
    for role in roles_for(mode, use_rubric=options.use_rubric):
        validate_role(role, settings)
    memory = options.memory
    memory_at = memory_location(memory, force=options.force) if memory else str(out / "memory")
    prepare(choose(options.checkpoints), options.checkpoints)  # an unreachable database stops it here
    prepare_output_dir(out, [marker], what=what, force=options.force)
    return RunContext(
        mode=mode,
        review=[cast(ReviewPoint, point) for point in options.review],
        use_rubric=options.use_rubric,
        memory_dir=memory_at,
        **retry_caps(options.max_retries),
        model_factory=options.model_factory,
    )


def begin_run(
    spec: EpisodeSpec, run_dir: Path, template: RunContext, checkpoints: str | None = None
) -> RunContext:
    """Record a new run of ``spec`` in ``run_dir`` with ``template``'s settings, its models resolved now
    (run/runner.py ``start_run``); returns the context it goes on with."""
    return start_run(spec, run_dir, replace(template, run_dir=str(run_dir)), checkpoints)


def reopen_run(
    run_dir: Path, *, reconfigure: bool = False, model_factory: ModelFactory | None = None
) -> tuple[EpisodeSpec, RunContext]:
    """A recorded run's spec and the context it goes on with: the models it was started with, which the current
    configuration must match unless ``reconfigure`` (run/runner.py ``keep_models``)."""
    spec, context = load_run(run_dir)
    context = keep_models(run_dir, replace(context, model_factory=model_factory), reconfigure=reconfigure)
    return spec, context


def drive_held(
    run_dir: Path,
    spec: EpisodeSpec,
    context: RunContext,
    *,
    holder: str,
    on_update: Progress = lambda node, update: None,
    reviewer: Reviewer = lambda payload: None,
    checkpoints: str | None = None,
    start_over: bool = False,
) -> RunResult:
    """Drive the run (from the start, or on from its last checkpoint) with its lock held as ``holder``: refused
    at once (run/runlock.py ``RunBusy``) while something else drives it. ``start_over``: the run's checkpoints
    are lost and it is to be written again from the start (run/runner.py ``refuse_lost_checkpoints``)."""
    from dsr.run.runlock import holding

    with holding(run_dir, holder):
        return drive(
            run_dir,
            context,
            initial_input(spec),
            on_update=on_update,
            reviewer=reviewer,
            checkpoints=checkpoints,
            start_over=start_over,
        )
