"""A realistic openai-python fine-tuning script, as its users write it.

The test runs this file twice, each time with a different first line of ``make_client``:
the official ``openai.AsyncOpenAI`` and ``finetune_async.AsyncClient``. Nothing else changes.
It prints one JSON object describing what it saw, which the test compares between the two runs.
"""

import asyncio
import json
import sys
import tempfile
from pathlib import Path

BASE_URL, TRAIN, DPO = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
MODEL = "gpt-4o-mini-2024-07-18"


def make_client():  # type: ignore[no-untyped-def]
    CLIENT_LINE  # noqa: B018, F821 (replaced by the test)
    return client  # noqa: F821


async def main() -> None:
    client = make_client()
    seen: dict[str, object] = {}

    # 1. Upload: a file object, and a (name, data, content_type) tuple.
    with TRAIN.open("rb") as fh:  # noqa: ASYNC230 (as users write it)
        train = await client.files.create(file=fh, purpose="fine-tune")
    dpo_file = await client.files.create(
        file=("dpo.jsonl", DPO.read_bytes(), "application/jsonl"),  # noqa: ASYNC240
        purpose="fine-tune",
    )
    seen["uploads"] = [train.filename, dpo_file.filename, train.purpose, dpo_file.bytes]

    # 2. A DPO job, its method as a dict, with a per-call timeout and headers.
    dpo_job = await client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=dpo_file.id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1, "n_epochs": 1}}},
        timeout=30,
        extra_headers={"X-Trace-Id": "port-test"},
    )
    seen["dpo"] = [dpo_job.method.type, dpo_job.method.dpo.hyperparameters.beta]

    # 3. A supervised job with a parameter passed through extra_body.
    job = await client.fine_tuning.jobs.create(
        model=MODEL, training_file=train.id, suffix="port", extra_body={"seed": 4242}
    )
    seen["seed"] = job.seed

    # 4. The listing's first page.
    page = await client.fine_tuning.jobs.list(limit=10)
    seen["listed"] = sorted(j.id == job.id or j.id == dpo_job.id for j in page.data)

    # 5. Cancel the DPO job after all.
    cancelled = await client.fine_tuning.jobs.cancel(dpo_job.id)
    seen["cancelled"] = cancelled.status

    # 6. Wait the way openai-python users do: retrieve until it ends.
    while job.status not in ("succeeded", "failed", "cancelled"):
        await asyncio.sleep(0.2)
        job = await client.fine_tuning.jobs.retrieve(job.id)
    seen["status"] = job.status

    # 7. Every event, walking the pages with async for; the checkpoints' first page.
    messages = [event.message async for event in client.fine_tuning.jobs.list_events(job.id, limit=5)]
    seen["events"] = [messages[0], len(messages) > 5]
    checkpoints = await client.fine_tuning.jobs.checkpoints.list(job.id)
    seen["checkpoints"] = sorted(c.fine_tuning_job_id == job.id for c in checkpoints.data)

    # 8. The model as JSON and as a dict; a field the SDK may not model, as an attribute.
    dumped = json.loads(job.model_dump_json())
    seen["dump"] = [dumped["id"] == job.id, dumped["fine_tuned_model"] == job.fine_tuned_model, "error" in dumped]
    seen["to_dict"] = job.to_dict()["status"]
    seen["suffix_attribute"] = job.user_provided_suffix

    # 9. The raw answer: status, headers, then the model.
    raw = await client.fine_tuning.jobs.with_raw_response.retrieve(job.id)
    parsed = raw.parse()
    seen["raw"] = [raw.status_code, raw.headers.get("content-type", "").split(";")[0], parsed.id == job.id]

    # 10. The result file's content: as text, and written to a file.
    content = await client.files.content(job.result_files[0])
    header = content.text.splitlines()[0]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "results.csv"
        content.write_to_file(target)
        seen["content"] = [header.split(",")[0], target.read_bytes() == content.content]

    await client.close()
    print(json.dumps(seen, sort_keys=True))


asyncio.run(main())
