"""The shop's source, as docs/django.md says to write it (the benchmark may set
its batch size through BENCH_DJANGO_BATCH_SIZE, to compare sizes)."""

import os

from warming_tasks.django import QuerySetSource

from .models import Product

_size = os.environ.get("BENCH_DJANGO_BATCH_SIZE")
products = QuerySetSource(
    Product.objects.order_by("pk"),
    key="product:{pk}",
    ttl=3600,
    batch_size=int(_size) if _size else None,
)
