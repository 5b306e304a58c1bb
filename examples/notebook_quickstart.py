"""The synchronous client, cell by cell: upload, create, list, stream events, wait, close.

    python examples/notebook_quickstart.py                      # against an embedded emulator
    OPENAI_API_KEY=sk-... python examples/notebook_quickstart.py

The ``# %%`` markers are cells (Jupyter, VS Code and jupytext read them): the same code runs as a
script or in a notebook, where an event loop is already running and ``asyncio.run`` cannot be
called. ``ft.Client`` runs its work on a loop of its own, so it does not care.
"""

# %%
import json
import os

import finetune_async as ft

MODEL = "gpt-4o-mini-2024-07-18"

emulator = None
if not os.environ.get("OPENAI_API_KEY"):
    # No key: a local emulator served from a thread, so the example needs no account.
    from finetune_async.emulator.threaded import EmulatorThread

    emulator = EmulatorThread(job_seconds=3)
    os.environ["OPENAI_BASE_URL"] = emulator.__enter__().base_url
    os.environ["OPENAI_API_KEY"] = "sk-emulator"

client = ft.Client()
print("client:", client)

# %%
rows = [
    {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}, {"role": "assistant", "content": str(2 * i)}]}
    for i in range(20)
]
training = client.files.create(file=("train.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode()))
print("uploaded:", training.id, training.status)

# %%
job = client.fine_tuning.jobs.create(model=MODEL, training_file=training.id, suffix="notebook")
print("created:", job.id, job.status)

# %%
for listed in client.fine_tuning.jobs.list(limit=10):
    print("listed:", listed.id, listed.status)

# %%
for event in client.fine_tuning.jobs.stream_events(job.id):
    print("event:", event.message)

# %%
job = client.fine_tuning.jobs.wait(job.id)
print("result:", job.status, job.fine_tuned_model)

# %%
client.close()
if emulator is not None:
    emulator.__exit__(None, None, None)
print("closed:", client.is_closed)
