"""The frameworks' own cache test suites, run on their backend and on ours.

``python -m tests.frameworks`` downloads the sdists of the installed Django,
django-redis and Flask-Caching (they ship their tests), starts a Redis of its own
(and, for django-redis, a Sentinel and a Unix socket), runs each framework's Redis
cache tests twice -- its own backend, then warming-tasks' tracking backend -- and
fails on any test whose outcome differs between the two. A failure both backends
share is the framework's: reported, not failing.

The adaptation of each suite is kept to one file each, here:

- ``django_suite_settings.py``: the settings Django's ``runtests.py`` runs
  ``cache.tests.RedisCacheTests`` with (its Redis cache at our server; ours swapped
  in under Django's backend path), and ``django_suite_runner.py`` records outcomes;
- ``suite_plugin.py``: a pytest plugin for the django-redis and Flask-Caching suites
  that swaps ours in under the framework's backend names, records outcomes, and
  runs one django-redis settings module per process;
- the runner rewrites the host ports and socket path those suites hard-code
  (``127.0.0.1:6379``, Sentinel ``26379``, ``/tmp/redis.sock``, Flask-Caching's
  ``6360``) to the servers it started, so no test writes to a Redis it did not
  start.
"""
