"""Celery configuration for the fault-injection suite, named by CELERY_CONFIG_MODULE.

It restates the package's reliability defaults and shortens the Redis transport's
``visibility_timeout`` (1 h by default): a message whose worker died unacked is
given to another consumer only after that long, and a test cannot wait an hour.
Broker and result backend still come from CELERY_BROKER_URL / CELERY_RESULT_BACKEND.
"""

import os

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
broker_connection_retry_on_startup = True
timezone = "UTC"

_VISIBILITY_S = int(os.environ.get("FAULTS_VISIBILITY_TIMEOUT", "5"))
broker_transport_options = {
    "visibility_timeout": _VISIBILITY_S,
    # Sweep for abandoned messages every second, not every 100 s (10 s x 10).
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
