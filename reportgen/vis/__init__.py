"""Visualisations of what a CNN learned: filters, activations, maximisation, CAM, t-SNE, style, dream."""
