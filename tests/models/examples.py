"""Real-looking API payloads, one or more per response schema (shapes from OpenAI's API reference).

Shared by the model tests; other tests may import them as fixtures of what the API sends.
"""

from __future__ import annotations

from typing import Any

FILE: dict[str, Any] = {
    "id": "file-abc123",
    "object": "file",
    "bytes": 120000,
    "created_at": 1677610602,
    "expires_at": 1680202602,
    "filename": "salesOverview.jsonl",
    "purpose": "fine-tune",
    "status": "processed",
    "status_details": None,
}

FILE_DELETED: dict[str, Any] = {"id": "file-abc123", "object": "file", "deleted": True}

UPLOAD_PENDING: dict[str, Any] = {
    "id": "upload_abc123",
    "object": "upload",
    "bytes": 2147483648,
    "created_at": 1719184911,
    "filename": "training_examples.jsonl",
    "purpose": "fine-tune",
    "status": "pending",
    "expires_at": 1719127296,
}

UPLOAD_COMPLETED: dict[str, Any] = {
    "id": "upload_abc123",
    "object": "upload",
    "bytes": 2147483648,
    "created_at": 1719184911,
    "filename": "training_examples.jsonl",
    "purpose": "fine-tune",
    "status": "completed",
    "expires_at": 1719127296,
    "file": {
        "id": "file-xyz321",
        "object": "file",
        "bytes": 2147483648,
        "created_at": 1719186911,
        "filename": "training_examples.jsonl",
        "purpose": "fine-tune",
        "status": "processed",
    },
}

UPLOAD_PART: dict[str, Any] = {
    "id": "part_def456",
    "object": "upload.part",
    "created_at": 1719185911,
    "upload_id": "upload_abc123",
}

JOB_RUNNING: dict[str, Any] = {
    "object": "fine_tuning.job",
    "id": "ftjob-abc123",
    "model": "gpt-4o-mini-2024-07-18",
    "created_at": 1721764800,
    "finished_at": None,
    "fine_tuned_model": None,
    "organization_id": "org-123",
    "result_files": [],
    "status": "running",
    "validation_file": "file-def456",
    "training_file": "file-abc123",
    "hyperparameters": {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"},
    "trained_tokens": None,
    "error": None,
    "integrations": [
        {
            "type": "wandb",
            "wandb": {
                "project": "my-wandb-project",
                "entity": None,
                "name": None,
                "tags": ["openai/finetune", "openai/gpt-4o-mini", "openai/ftjob-abc123"],
                "run_id": "ftjob-abc123",
            },
        }
    ],
    "seed": 42,
    "estimated_finish": 1721768400,
    "method": {
        "type": "supervised",
        "supervised": {
            "hyperparameters": {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}
        },
    },
    "metadata": {"customer": "acme", "run": "nightly"},
    "user_provided_suffix": "weather",
}

JOB_SUCCEEDED_DPO: dict[str, Any] = {
    "object": "fine_tuning.job",
    "id": "ftjob-dpo456",
    "model": "gpt-4o-2024-08-06",
    "created_at": 1721764800,
    "finished_at": 1721768400,
    "fine_tuned_model": "ft:gpt-4o-2024-08-06:org:pref:7p4lURel",
    "organization_id": "org-123",
    "result_files": ["file-res789"],
    "status": "succeeded",
    "validation_file": None,
    "training_file": "file-abc123",
    "hyperparameters": {"batch_size": 1, "learning_rate_multiplier": 1.8, "n_epochs": 3},
    "trained_tokens": 5768,
    "error": None,
    "integrations": None,
    "seed": 7,
    "estimated_finish": None,
    "method": {
        "type": "dpo",
        "dpo": {"hyperparameters": {"beta": 0.1, "batch_size": 1, "learning_rate_multiplier": 1.8, "n_epochs": 3}},
    },
    "metadata": None,
}

JOB_FAILED: dict[str, Any] = {
    "object": "fine_tuning.job",
    "id": "ftjob-fail789",
    "model": "gpt-4o-mini-2024-07-18",
    "created_at": 1721764800,
    "finished_at": 1721764900,
    "fine_tuned_model": None,
    "organization_id": "org-123",
    "result_files": [],
    "status": "failed",
    "validation_file": None,
    "training_file": "file-abc123",
    "hyperparameters": {"n_epochs": 3},
    "trained_tokens": None,
    "error": {
        "code": "invalid_training_file",
        "message": "The training file has fewer than 10 examples.",
        "param": "training_file",
    },
    "seed": 1,
}

JOB_PAUSED_REINFORCEMENT: dict[str, Any] = {
    "object": "fine_tuning.job",
    "id": "ftjob-rft001",
    "model": "o4-mini-2025-04-16",
    "created_at": 1747000000,
    "finished_at": None,
    "fine_tuned_model": None,
    "organization_id": "org-123",
    "result_files": [],
    "status": "paused",
    "validation_file": "file-val002",
    "training_file": "file-train001",
    "hyperparameters": {},
    "trained_tokens": None,
    "error": None,
    "seed": 123,
    "method": {
        "type": "reinforcement",
        "reinforcement": {
            "grader": {
                "type": "multi",
                "name": "combined",
                "calculate_output": "0.5 * exact + 0.5 * similar",
                "graders": {
                    "type": "score_model",
                    "name": "judge",
                    "model": "gpt-4o-2024-08-06",
                    "input": [
                        {"role": "system", "content": "Score the answer from 0 to 1.", "type": "message"},
                        {
                            "role": "user",
                            "content": [
                                {"type": "input_text", "text": "Answer: {{sample.output_text}}"},
                                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                            ],
                        },
                    ],
                    "range": [0, 1],
                    "sampling_params": {"temperature": 0, "seed": 1, "reasoning_effort": "low"},
                },
            },
            "hyperparameters": {
                "batch_size": "auto",
                "learning_rate_multiplier": "auto",
                "n_epochs": 2,
                "reasoning_effort": "medium",
                "compute_multiplier": 1.5,
                "eval_interval": "auto",
                "eval_samples": 4,
            },
        },
    },
    "metadata": {},
}

EVENT_MESSAGE: dict[str, Any] = {
    "object": "fine_tuning.job.event",
    "id": "ftevent-abc123",
    "created_at": 1721764800,
    "level": "info",
    "message": "Fine-tuning job started",
    "type": "message",
    "data": {},
}

EVENT_METRICS: dict[str, Any] = {
    "object": "fine_tuning.job.event",
    "id": "ftevent-def456",
    "created_at": 1721764860,
    "level": "info",
    "message": "Step 100/300: training loss=0.21, validation loss=0.35",
    "type": "metrics",
    "data": {
        "step": 100,
        "total_steps": 300,
        "train_loss": 0.2136,
        "train_mean_token_accuracy": 0.9312,
        "valid_loss": 0.3512,
        "valid_mean_token_accuracy": 0.88,
        "full_valid_loss": None,
        "full_valid_mean_token_accuracy": None,
    },
}

EVENT_WARN_NO_TYPE: dict[str, Any] = {
    "object": "fine_tuning.job.event",
    "id": "ftevent-ghi789",
    "created_at": 1721764870,
    "level": "warn",
    "message": "Validation file has fewer examples than recommended",
}

CHECKPOINT: dict[str, Any] = {
    "object": "fine_tuning.job.checkpoint",
    "id": "ftckpt_zc4Q7MP6XxulcVzj4MZdwsAB",
    "created_at": 1721764867,
    "fine_tuned_model_checkpoint": "ft:gpt-4o-mini-2024-07-18:my-org:custom-suffix:96olL566:ckpt-step-2000",
    "metrics": {
        "full_valid_loss": 0.134,
        "full_valid_mean_token_accuracy": 0.874,
        "step": 2000.0,
        "train_loss": 0.05,
        "train_mean_token_accuracy": 0.98,
        "valid_loss": 0.12,
        "valid_mean_token_accuracy": 0.9,
    },
    "fine_tuning_job_id": "ftjob-abc123",
    "step_number": 2000,
}

PERMISSION_LIST: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "object": "checkpoint.permission",
            "id": "cp_zc4Q7MP6XxulcVzj4MZdwsAB",
            "created_at": 1721764867,
            "project_id": "proj_abGMw1llN8IrBb6SvvY5A1iH",
        },
        {
            "object": "checkpoint.permission",
            "id": "cp_enQCFmOTGj3syEpYVhBRLTSy",
            "created_at": 1721764800,
            "project_id": "proj_iqGMw1llN8IrBb6SvvY5A1oF",
        },
    ],
    "first_id": "cp_zc4Q7MP6XxulcVzj4MZdwsAB",
    "last_id": "cp_enQCFmOTGj3syEpYVhBRLTSy",
    "has_more": False,
}

PERMISSION_DELETED: dict[str, Any] = {
    "object": "checkpoint.permission",
    "id": "cp_zc4Q7MP6XxulcVzj4MZdwsAB",
    "deleted": True,
}

MODEL: dict[str, Any] = {
    "id": "ft:gpt-4o-mini-2024-07-18:acemeco:suffix:abc123",
    "object": "model",
    "created": 1686935002,
    "owned_by": "acemeco",
}

MODEL_WITH_SHUTDOWN: dict[str, Any] = {
    "id": "gpt-3.5-turbo-0125",
    "object": "model",
    "created": 1706048358,
    "owned_by": "system",
    "shutdown_date": "2026-09-28",
}

MODEL_DELETED: dict[str, Any] = {
    "id": "ft:gpt-4o-mini-2024-07-18:acemeco:suffix:abc123",
    "object": "model",
    "deleted": True,
}

RUN_GRADER_RESPONSE: dict[str, Any] = {
    "reward": 1.0,
    "metadata": {
        "name": "Example score model grader",
        "type": "score_model",
        "errors": {
            "formula_parse_error": False,
            "sample_parse_error": False,
            "truncated_observation_error": False,
            "unresponsive_reward_error": False,
            "invalid_variable_error": False,
            "other_error": False,
            "python_grader_server_error": False,
            "python_grader_server_error_type": None,
            "python_grader_runtime_error": False,
            "python_grader_runtime_error_details": None,
            "model_grader_server_error": False,
            "model_grader_refusal_error": False,
            "model_grader_parse_error": False,
            "model_grader_server_error_details": None,
        },
        "execution_time": 4.365238428115845,
        "scores": {},
        "token_usage": 324,
        "sampled_model_name": "gpt-4o-2024-08-06",
    },
    "sub_rewards": {},
    "model_grader_token_usage_per_model": {
        "gpt-4o-2024-08-06": {"prompt_tokens": 190, "total_tokens": 324, "completion_tokens": 134, "cached_tokens": 0}
    },
}

VALIDATE_GRADER_RESPONSE: dict[str, Any] = {
    "grader": {
        "type": "string_check",
        "name": "Example string check grader",
        "input": "{{sample.output_text}}",
        "reference": "{{item.label}}",
        "operation": "eq",
    }
}

VALIDATE_GRADER_RESPONSE_PYTHON: dict[str, Any] = {
    "grader": {
        "type": "python",
        "name": "py",
        "source": "def grade(sample, item):\n    return 1.0\n",
        "image_tag": "2025-05-08",
    }
}

LABEL_MODEL_GRADER: dict[str, Any] = {
    "type": "label_model",
    "name": "sentiment",
    "model": "gpt-4o-mini-2024-07-18",
    "input": [{"role": "user", "content": "Classify: {{item.text}}"}],
    "labels": ["positive", "neutral", "negative"],
    "passing_labels": ["positive"],
}

TEXT_SIMILARITY_GRADER: dict[str, Any] = {
    "type": "text_similarity",
    "name": "bleu",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference}}",
    "evaluation_metric": "bleu",
}
