"""The Django shop of ``benchmarks.django_preload``: one model, its cache source."""
