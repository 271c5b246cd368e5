"""What the ``jvp`` rules share: tangents where ``None`` means "this input does not move".

A gate's ``jvp(self, *tangents)`` gets one tangent per input and returns how
its output moves: the Jacobian times the tangents, J t = sum_i (dy/dx_i) t_i.
An input that does not move (a constant, or one nobody asked about) gets
``None``, so each rule adds up only the terms it has: :func:`total`.
"""

from __future__ import annotations


def total(*terms):
    """The sum of the terms that are not ``None`` (``None`` if every one is)."""
    result = None
    for term in terms:
        if term is not None:
            result = term if result is None else result + term
    return result
