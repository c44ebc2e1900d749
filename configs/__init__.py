"""Configs: one ml_collections file per model size and flavour, each with `get_config()`."""
