"""Pipelines: the stages of `vsr` wired together, and the command line that runs them."""
