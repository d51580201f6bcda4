"""Small subcommands of the ``ldarnet`` CLI that belong to no larger room."""
