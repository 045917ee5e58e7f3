"""The package version, importable by any layer without importing the package root (no cycles)."""

__version__ = "0.1.0"
