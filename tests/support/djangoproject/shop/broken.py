"""A source module with a real mistake in it: `check` must name it."""

from .models import Prodcut  # noqa: F401 - the mistake

products = None
