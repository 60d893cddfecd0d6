"""One module per technology, each implementing ports from application/ports.py."""
