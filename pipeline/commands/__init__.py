"""The `wavegan` subcommands, one module per area; each adds its parsers with add_parsers(sub)."""
