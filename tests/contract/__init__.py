"""One contract suite per port; every adapter subclasses the same bases."""
