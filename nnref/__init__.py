"""nnref: the reference implementation of the nncourse formulas (numpy, float64).

One module per idea of the course; each function carries the lecture's formula in its
docstring. The book imports these functions for its demos, and the hidden tests of the
graded notebooks compare student code against them.
"""

__version__ = "0.1.0"
