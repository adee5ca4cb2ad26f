"""One module per CLI sub-command; each exposes `register(subparsers)` which sets `func` on its parser."""
