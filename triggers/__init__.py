"""Functions blueprints, one module per trigger family: parse the payload, call the
application, shape the reply. No business rule lives here."""
