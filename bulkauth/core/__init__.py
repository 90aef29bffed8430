"""Pure, sans-I/O logic: parsers and evaluators that ask for DNS answers instead of doing I/O."""
