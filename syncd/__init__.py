"""syncd: keep in touch with the people who matter."""

__version__ = "0.1.0"
