"""A product row of about 150 bytes, as a shop's catalogue has."""

from django.db import models


class Product(models.Model):  # type: ignore[misc] # Django has no types here
    name = models.CharField(max_length=100)
    description = models.TextField()
    price = models.IntegerField()

    class Meta:
        app_label = "shop"
