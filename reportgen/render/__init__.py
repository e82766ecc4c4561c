"""Turns stored results into figures, HTML and PDF; nothing here imports torch."""
