"""The shop's source, as its README section says to write it."""

from warming_tasks.django import QuerySetSource

from .models import Product

products = QuerySetSource(Product.objects.order_by("pk"), key="product:{pk}", ttl=3600)
