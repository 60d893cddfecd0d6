"""Use cases over ports: handle a command, advance the saga, project the read model."""
