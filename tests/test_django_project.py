"""A Django shop adds warming-tasks as docs/django.md says: configured only by its settings
module (a ``WARMING`` dict, its ``CACHES``), no ``WARMING_*`` variable anywhere. Every
process is started as its team starts it, in the project's directory: the worker with
``celery -A warming_tasks``, the commands with ``manage.py warming`` and
``warming-tasks``, the web process reading through Django's cache."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from warming_tasks.cli.embedded import RedisProcess

from .helpers import SUPPORT, CeleryProcess, wait_until, worker

pytestmark = pytest.mark.integration

PRODUCTS = 250
SETUP = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", run_syncdb=True, verbosity=0)
from shop.models import Product
Product.objects.bulk_create(Product(name=f"product {i}", price=i) for i in range(1, {n} + 1))
"""
# The web process: reads products through the shop's cache-aside view, as requests do.
WEB = """
import django, sys
django.setup()
from django.core.cache import cache
from shop.views import product
from warming_tasks.tracker import _flush_all
names = [product(pk).name for pk in map(int, sys.argv[1:])]
_flush_all()
print(",".join(names))
"""
READ_BACK = """
import django, json, sys
django.setup()
from django.core.cache import cache
found = cache.get(sys.argv[1])
print(json.dumps(None if found is None else [type(found).__name__, found.name, found.price]))
"""

# The application changing its data, with the models' keys rewarmed on save.
CHANGES = """
import django
django.setup()
from django.db import transaction
from shop.models import Product
from warming_tasks.django import rewarm_on_save
rewarm_on_save(Product, key="product:{pk}")
with transaction.atomic():
    renamed = Product.objects.get(pk=5)
    renamed.name = "renamed"
    renamed.save()
try:
    with transaction.atomic():
        kept = Product.objects.get(pk=6)
        kept.name = "never committed"
        kept.save()
        raise RuntimeError("rolled back")
except RuntimeError:
    pass
Product.objects.get(pk=7).delete()
"""


@dataclass
class Project:
    """The shop's directory and the environment its processes share."""

    root: Path
    env: dict[str, str]
    processes: list[CeleryProcess] = field(default_factory=list)

    def python(self, code: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "-c", code, *args], extra)

    def manage(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "manage.py", *args], extra)

    def command(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """``warming-tasks ARGS`` from the project's directory, no PYTHONPATH."""
        return self.run([str(Path(sys.executable).with_name("warming-tasks")), *args], extra)

    def run(self, argv: list[str], extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """``argv`` in the project's directory, with its environment and ``extra``."""
        return subprocess.run(
            argv,
            cwd=self.root,
            env=self.env | extra,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def worker(self, **extra: str) -> CeleryProcess:
        proc = worker(self.env | extra, self.root, concurrency=2)
        self.processes.append(proc)
        return proc.start()


@pytest.fixture
def project(tmp_path: Path, redis_server: RedisProcess, cache: redis.Redis) -> Iterator[Project]:
    root = tmp_path / "shop-project"
    shutil.copytree(SUPPORT / "djangoproject", root)
    # The team's environment: Django's settings module and Celery's broker, nothing
    # of ours; the tests' own modules are not on the path (the project is).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WARMING_", "CELERY_", "TEST_", "DJANGO_", "SHOP_"))
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "shopsite.settings",
        "SHOP_REDIS_URL": redis_server.url(0),
        "CELERY_BROKER_URL": redis_server.url(1),
        "CELERY_RESULT_BACKEND": redis_server.url(2),
        "PYTHONUNBUFFERED": "1",
    }
    made = Project(root, env)
    done = made.python(SETUP.replace("{n}", str(PRODUCTS)))
    assert done.returncode == 0, done.stderr
    yield made
    for proc in made.processes:
        proc.stop()


def test_one_settings_module_drives_every_process(project: Project, cache: redis.Redis) -> None:
    project.worker()
    done = project.manage("warming", "preload", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["loaded"], summary["failed"], summary["batches"]) == (PRODUCTS, 0, 3)

    # Django reads back what the worker wrote: its own key naming, its own pickles.
    back = project.python(READ_BACK, "product:42")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout) == ["Product", "product 42", 42]
    assert not cache.exists(":1:product:42"), "the shop's KEY_PREFIX is used"
    assert cache.exists("shop:1:product:42")

    # The web process counts its reads into its own cache's Redis, where stats finds them.
    web = project.python(WEB, "7", "7", "7", "9")
    assert web.returncode == 0, web.stderr
    assert web.stdout.strip() == "product 7,product 7,product 7,product 9"
    stats = project.command("stats", "--json")
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    # Four reads by the web process, one by the read-back above: Django's cache counts.
    assert data["reads"] == {"hits": 5, "misses": 0, "hit_ratio": 1.0}
    top = [row["key"] for row in data["top_keys"]]
    assert top[0] == "product:7"
    assert sorted(top[1:]) == ["product:42", "product:9"]

    # The same commands from the console script, in the project's directory.
    again = project.command("preload", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["loaded"] == PRODUCTS


def test_a_worker_on_another_database_is_refused_in_one_line(project: Project) -> None:
    project.worker(WARMING_REDIS_URL=project.env["SHOP_REDIS_URL"].replace("/0", "/6"))
    done = project.manage("warming", "preload")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("warming-tasks: the worker ")
    assert "/6 (format django" in lines[0]
    assert "this command to redis://127.0.0.1:" in lines[0]
    assert "/0 (format django" in lines[0]


def test_the_same_redis_written_two_ways_is_the_same_redis(project: Project) -> None:
    """Django's LOCATION without a database, a worker's URL with /0 and another
    name for the host: one server, one database, so the run goes ahead."""
    url = project.env["SHOP_REDIS_URL"]
    project.env["SHOP_REDIS_URL"] = url.removesuffix("/0")
    project.worker(WARMING_REDIS_URL=url.replace("127.0.0.1", "localhost"))
    done = project.manage("warming", "--settings=shopsite.settings", "preload", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["loaded"] == PRODUCTS


def test_check_sets_django_up_before_the_source_and_still_names_a_real_error(
    project: Project,
) -> None:
    done = project.command("check")
    assert "AppRegistryNotReady" not in done.stdout + done.stderr
    assert "source shop.cache:products: ok" in done.stdout, done.stdout + done.stderr

    broken = project.command("check", SHOP_SOURCE="shop.broken:products")
    assert broken.returncode == 1
    line = next(x for x in broken.stderr.splitlines() if "shop.broken" in x)
    assert "cannot import name 'Prodcut'" in line
    assert "AppRegistryNotReady" not in broken.stderr


def test_the_queryset_source_loads_a_batch_in_one_query(project: Project) -> None:
    code = """
import django, json
django.setup()
from django.db import connection
from django.test.utils import CaptureQueriesContext
from shop.cache import products
keys = list(products.hot_keys())
with CaptureQueriesContext(connection) as queries:
    found = products.load_many(keys[:100] + ["product:999999", "not-a-product", "product:x"])
from warming_tasks.django import QuerySetSource
from shop.models import Product
dearest = QuerySetSource(Product.objects.order_by("-price")[:10], key="product:{pk}")
top = list(dearest.hot_keys())
with CaptureQueriesContext(connection) as sliced:
    top_found = dearest.load_many(top)
print(json.dumps({
    "keys": len(keys), "first": keys[0], "found": len(found), "queries": len(queries),
    "value": [type(found["product:3"][0]).__name__, found["product:3"][1]],
    "top": top[:2], "top_found": len(top_found), "top_queries": len(sliced),
}))
"""
    done = project.python(code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "keys": PRODUCTS,
        "first": "product:1",
        "found": 100,
        "queries": 1,
        "value": ["Product", 3600],
        "top": [f"product:{PRODUCTS}", f"product:{PRODUCTS - 1}"],
        "top_found": 10,
        "top_queries": 1,
    }


def test_the_cli_finds_the_project_from_its_directory(project: Project) -> None:
    done = project.command("settings", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: (row["value"], row["from"]) for row in json.loads(done.stdout)}
    assert rows["WARMING_SOURCE"] == ("shop.cache:products", "django settings")
    assert rows["WARMING_FORMAT"] == ("django", "django settings")
    assert rows["WARMING_REDIS_URL"] == (project.env["SHOP_REDIS_URL"], "django settings")
    assert rows["WARMING_BATCH_SIZE"] == (100, "django settings")
    assert rows["WARMING_TTL_JITTER"] == (0.1, "default")


def test_check_says_when_the_application_names_keys_unlike_the_workers(project: Project) -> None:
    worker = project.worker()
    web = project.python(WEB, "7")  # a web process whose cache has VERSION 1, as the workers
    assert web.returncode == 0, web.stderr
    agreed = project.command("check")
    assert agreed.returncode == 0, agreed.stderr
    assert "key parity: ok" in agreed.stdout

    web = project.python(WEB, "7", SHOP_CACHE_VERSION="3")  # its VERSION moved on alone
    assert web.returncode == 0, web.stderr
    done = project.command("check")
    assert done.returncode == 1
    line = next(x for x in done.stderr.splitlines() if "key parity" in x)
    assert "reads warming:probe at shop:3:warming:probe" in line
    name = worker.command[worker.command.index("-n") + 1].removesuffix("%h")
    assert f"; the worker {name}" in line, "named by the worker that answered"
    assert line.endswith(" writes it at shop:1:warming:probe")


def test_a_saved_model_is_rewarmed_after_commit_and_a_deleted_one_leaves_the_cache(
    project: Project, cache: redis.Redis, redis_server: RedisProcess
) -> None:
    broker = redis_server.client(1)
    worker = project.worker()
    assert project.manage("warming", "preload").returncode == 0
    assert read_back(project, "product:5") == ["Product", "product 5", 5]

    done = project.python(CHANGES)
    assert done.returncode == 0, done.stderr

    wait_until(
        lambda: read_back(project, "product:5") == ["Product", "renamed", 5],
        30,
        "Django's cache reads the renamed product",
    )
    assert read_back(project, "product:7") is None  # deleted through Django's cache
    assert read_back(project, "product:6") == ["Product", "product 6", 6]
    # One warm enqueued, for the committed save; none for the rolled-back one (the
    # script enqueued all it would before it exited: nothing is left queued).
    assert broker.llen("celery") == 0
    assert len(re.findall(r"warming_tasks\.warm_keys\[[\w-]+\] received", worker.log())) == 1


def read_back(project: Project, key: str) -> object:
    done = project.python(READ_BACK, key)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
