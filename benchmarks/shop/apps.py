"""The shop app, labelled ``shop``."""

from django.apps import AppConfig


class ShopConfig(AppConfig):  # type: ignore[misc] # Django has no types here
    name = "benchmarks.shop"
    label = "shop"
