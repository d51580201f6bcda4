"""Every ``ldarnet`` subcommand, one module each: parse the options, call the library (training, finetune, genome, ...)."""
