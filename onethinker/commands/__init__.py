"""Command-line verbs. Each module exposes ``register(subparsers)``; cli.py collects them."""
