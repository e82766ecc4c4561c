"""reportgen: run computer-vision coursework experiments and render their deliverables."""

__version__ = "0.1.0"
