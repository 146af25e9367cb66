"""mgdsl's version, in one place: the package, its generated code and its exports read it from here,
and pyproject.toml takes it from here too."""
__version__ = "0.1.0"
