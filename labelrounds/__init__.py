"""labelrounds: labeling rounds on Supervisely, with an embedded Supervisely-compatible sandbox."""

__version__ = "0.1.0"
