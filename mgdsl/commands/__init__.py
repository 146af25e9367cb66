"""One module per `mgdsl` subcommand."""
