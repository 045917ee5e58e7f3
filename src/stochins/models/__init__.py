"""Built-in model files (YAML) and model importers."""
