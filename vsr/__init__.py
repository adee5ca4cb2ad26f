"""vsr: SAFMN video super-resolution parts (models, engine, io, metrics).

`vsr` never imports `pipelines`; pipelines wire these parts together.
"""

__version__ = "0.1.0"
