"""Example Celery configuration for ``celery -A warming_tasks worker|beat``.

warming-tasks imports a module named ``celeryconfig`` from ``sys.path`` (or the
one named by ``CELERY_CONFIG_MODULE``) after its built-in defaults, so whatever
you set here wins over them; ``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND``
in the environment still win over both. This file only restates the defaults,
so it is harmless wherever it is imported from: copy it and change what you need.
"""

import os

broker_url = os.environ.get("CELERY_BROKER_URL") or "redis://localhost:6379/1"
result_backend = os.environ.get("CELERY_RESULT_BACKEND") or "redis://localhost:6379/2"

# Only JSON on the wire: never accept pickle from a broker others can write to.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

# A batch is a thousand keys: acknowledge it only once it is written, requeue it
# if its worker dies, and do not let one child hoard batches another could run.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

# Task events cost a broker message each (several per task): they are off by
# default. Flower switches them on at run time, or start workers with -E.
