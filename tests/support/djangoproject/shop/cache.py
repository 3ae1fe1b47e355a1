"""The shop's cache source: its models imported at the top, as every Django project
writes it."""

from warming_tasks.django import QuerySetSource

from .models import Product

products = QuerySetSource(Product.objects.order_by("pk"), key="product:{pk}", ttl=3600)
