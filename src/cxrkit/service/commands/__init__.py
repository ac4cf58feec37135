"""CLI subcommands, one module each; each module defines ``register(subparsers)``.

``evaluate`` has its own sub-subcommands, discovered from the ``evaluate_*`` modules here, each defining
``register_evaluate(subparsers)``.
"""
