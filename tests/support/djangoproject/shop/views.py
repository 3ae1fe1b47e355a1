"""The cache-aside read a shop's view does: Django's cache first, the database after."""

from django.core.cache import cache

from .models import Product


def product(pk: int) -> Product:
    key = f"product:{pk}"
    found = cache.get(key)
    if found is None:
        found = Product.objects.get(pk=pk)
        cache.set(key, found, 3600)
    return found
