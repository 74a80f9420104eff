"""The package's version: one source, read by paddle_mnist/__init__.py, the run records and setup.py
(as text: setup.py cannot import the package, which needs Paddle)."""

__version__ = "0.1.0"
