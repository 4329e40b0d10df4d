"""nngrader: the class grader of nncourse, built on nbgrader.

``python -m nngrader release <assignment>``  (nbgrader generate_assignment + checks)
``python -m nngrader grade <assignment> <folder|zip> [--workers N] [--out DIR]``

The student's kernel only computes answers on inputs the grader drew; every hidden
comparison with nnref happens in the grader's own process (see core.judge).
"""
