"""Jupyter widgets for minigrad: the tape, gradient flow, LR schedules."""
