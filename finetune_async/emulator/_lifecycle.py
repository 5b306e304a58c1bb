"""A job's life as a function of the clock: its phases, events, metrics, checkpoints and results.

A job's schedule is fixed when it is created (validating 10% of ``job_seconds``, queued 10%,
running 80%). :func:`step` materialises whatever is due for a job up to an instant (status
changes, events, checkpoints, the result file) and says what it made; :class:`~.jobs.Jobs`
stores it. Everything here is pure over the :class:`~.store.JobRecord`: no store, no timer,
no HTTP, so the same lifecycle serves any dialect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ._util import new_id
from .store import FileRecord, JobRecord

__all__ = [
    "TERMINAL",
    "Step",
    "event",
    "model_name",
    "next_due",
    "noise",
    "phase_times",
    "results_csv",
    "step",
]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_METRIC_EVENTS_PER_JOB = 100

# Share of job_seconds spent in each phase before running.
_VALIDATING_SHARE = 0.1
_QUEUED_SHARE = 0.1


def phase_times(created: float, job_seconds: float) -> tuple[float, float, float]:
    """(``t_validated``, ``t_started``, ``run_seconds``) of a job created at ``created``."""
    return (
        created + job_seconds * _VALIDATING_SHARE,
        created + job_seconds * (_VALIDATING_SHARE + _QUEUED_SHARE),
        job_seconds * (1 - _VALIDATING_SHARE - _QUEUED_SHARE),
    )


def next_due(job: JobRecord) -> float | None:
    """When ``job`` next changes phase by itself (None: paused, finished, or never)."""
    if job.status == "validating_files":
        return job.t_validated
    if job.status == "queued":
        return job.t_started
    if job.status == "running" and job.run_resumed_at is not None:
        return job.run_resumed_at + job.run_seconds - job.run_offset
    return None


def noise(seed: int, step: int, salt: int) -> float:
    """A cheap deterministic hash in [0, 1): the same job and step always give the same metrics."""
    h = (seed * 2654435761 + step * 40503 + salt * 97531) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 2246822519) & 0xFFFFFFFF
    h ^= h >> 13
    return h / 2**32


def event(
    message: str, at: float, *, level: str = "info", type_: str = "message", data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A new ``fine_tuning.job.event`` at wall time ``at``."""
    return {
        "object": "fine_tuning.job.event",
        "id": new_id("ftevent-", 24),
        "created_at": int(at),
        "level": level,
        "message": message,
        "type": type_,
        "data": data or {},
    }


def model_name(job: JobRecord) -> str:
    """The fine-tuned model's name: ``ft:BASE:ORG:SUFFIX:SHORT`` (its checkpoints add ``:ckpt-step-N``)."""
    return f"ft:{job.base_model}:{job.org_slug}:{job.suffix or ''}:{job.short}"


def _metrics(job: JobRecord, step: int) -> dict[str, float]:
    p = step / job.total_steps
    start, floor = (0.69, 0.05) if job.method_type == "dpo" else (2.2, 0.12)
    decay = math.exp(-4.0 * p)
    train_loss = floor + (start - floor) * decay + 0.12 * (noise(job.seed, step, 1) - 0.5) * (1 - 0.5 * p)
    acc = 0.35 + 0.6 * (1 - decay) + 0.05 * (noise(job.seed, step, 2) - 0.5)
    out = {
        "step": step,
        "train_loss": round(max(0.0, train_loss), 5),
        "train_mean_token_accuracy": round(min(0.999, max(0.0, acc)), 5),
    }
    if job.validation_file is not None:
        out["valid_loss"] = round(max(0.0, train_loss * 1.07 + 0.05 * noise(job.seed, step, 3)), 5)
        out["valid_mean_token_accuracy"] = round(min(0.999, max(0.0, acc - 0.03 * noise(job.seed, step, 4))), 5)
    return out


def _checkpoint(job: JobRecord, step: int, at: float) -> dict[str, Any]:
    m = _metrics(job, step)
    metrics: dict[str, float] = dict(m)
    if job.validation_file is not None:
        metrics["full_valid_loss"] = round(m["valid_loss"] * 0.98, 5)
        metrics["full_valid_mean_token_accuracy"] = m["valid_mean_token_accuracy"]
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": new_id("ftckpt-", 24),
        "created_at": int(at),
        "fine_tuned_model_checkpoint": f"{model_name(job)}:ckpt-step-{step}",
        "fine_tuning_job_id": job.id,
        "metrics": metrics,
        "step_number": step,
    }


def results_csv(job: JobRecord) -> bytes:
    """The bytes of ``job``'s step-metrics results file."""
    lines = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"]
    for s in range(1, job.total_steps + 1):
        m = _metrics(job, s)
        vl = m.get("valid_loss", "")
        va = m.get("valid_mean_token_accuracy", "")
        lines.append(f"{s},{m['train_loss']},{m['train_mean_token_accuracy']},{vl},{va}\n")
    return "".join(lines).encode()


def _results_file(job: JobRecord, at: float) -> FileRecord:
    # Made from the job when read, not written now: creating a file costs a few hundred
    # microseconds here, and a hundred jobs ending together must not stall every request.
    return FileRecord(
        id=new_id("file-", 22),
        filename="step_metrics.csv",
        purpose="fine-tune-results",
        bytes=len(results_csv(job)),
        created_at=int(at),
        path="",
        results_of=job.id,
    )


@dataclass(slots=True)
class Step:
    """What one :func:`step` made, to be stored with the job in one transaction."""

    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)


def _validate(job: JobRecord, out: Step) -> None:
    if job.invalid is not None:
        out.events.append(event(job.invalid["message"], job.t_validated, level="error"))
        out.events.append(event("The job failed due to an invalid file.", job.t_validated, level="error"))
        job.status = "failed"
        job.error = dict(job.invalid)
        job.finished_at = job.t_validated
    else:
        out.events.append(event("Files validated, moving job to queued state", job.t_validated))
        job.status = "queued"


def _train_to(job: JobRecord, resumed_at: float, target: int, out: Step) -> None:
    """Emit the metrics events and checkpoints of steps ``emitted_step + 1 .. target`` of the run
    that resumed at ``resumed_at``."""
    total = job.total_steps
    stride = max(1, total // _METRIC_EVENTS_PER_JOB)
    epochs = job.hp_resolved["n_epochs"]
    first_ckpt_epoch = max(1, epochs - 2)
    for s in range(job.emitted_step + 1, target + 1):
        at = resumed_at + (s * job.run_seconds / total - job.run_offset)
        if s == 1 or s % stride == 0 or s == total:
            m = _metrics(job, s)
            msg = f"Step {s}/{total}: training loss={m['train_loss']:.2f}"
            if "valid_loss" in m:
                msg += f", validation loss={m['valid_loss']:.2f}"
            out.events.append(event(msg, at, type_="metrics", data={"total_steps": total, **m}))
        if s % job.steps_per_epoch == 0 and s // job.steps_per_epoch >= first_ckpt_epoch:
            ck = _checkpoint(job, s, at)
            out.checkpoints.append(ck)
            out.events.append(
                event(f"Checkpoint created at step {s} with Snapshot ID: {ck['fine_tuned_model_checkpoint']}", at)
            )
    job.emitted_step = target


def _succeed(job: JobRecord, at: float, out: Step) -> None:
    """Mark ``job`` succeeded at ``at``, adding its final events and its results file."""
    name = model_name(job)
    job.status = "succeeded"
    job.fine_tuned_model = name
    job.finished_at = at
    job.trained_tokens = job.hp_resolved["n_epochs"] * job.total_tokens
    job.run_resumed_at = None
    results = _results_file(job, at)
    job.result_files = [results.id]
    out.files.append(results)
    out.events.append(event(f"New fine-tuned model created: {name}", at))
    out.events.append(event("Evaluating model against our usage policies", at))
    out.events.append(event("Usage policy evaluations completed, model is now enabled for sampling", at))
    out.events.append(event("The job has successfully completed", at))


def step(job: JobRecord, t: float) -> Step | None:
    """Bring ``job`` (in place) to where wall time ``t`` has it; what that made, or None when
    nothing changed (idempotent: a second call at the same ``t`` makes nothing)."""
    if job.status in TERMINAL or job.status == "paused":
        return None
    out = Step()
    changed = False
    if job.status == "validating_files":
        if t < job.t_validated:
            return None
        changed = True
        _validate(job, out)
    if job.status == "queued" and t >= job.t_started:
        changed = True
        out.events.append(event("Fine-tuning job started", job.t_started))
        job.status = "running"
        job.run_resumed_at = job.t_started
    if job.status == "running" and job.run_resumed_at is not None:
        elapsed = job.run_offset + (t - job.run_resumed_at)
        total = job.total_steps
        target = total if elapsed >= job.run_seconds else min(total, int(elapsed * total / job.run_seconds))
        if target > job.emitted_step:
            changed = True
            _train_to(job, job.run_resumed_at, target, out)
        if elapsed >= job.run_seconds:
            changed = True
            _succeed(job, job.run_resumed_at + job.run_seconds - job.run_offset, out)
    return out if changed else None
