"""digest: build a news site's daily email digest and send it, once, to every subscriber."""

__version__ = "0.1.0"
