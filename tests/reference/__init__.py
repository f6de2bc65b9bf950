"""Slow, obviously-correct pure-Python reference engine of the simulation contract.

Written only from ``docs/simulation.md`` (and ``shared/DESIGN.md``), independently of the numba
kernel, so the two can be compared on random inputs (see ``gen.reference_inputs``).
"""
