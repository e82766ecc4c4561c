"""Experiment modules, one per course task; each registers its experiments with @experiment."""
