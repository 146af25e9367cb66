from . import layers  # noqa: F401  (registers the built-in layer types)
