"""nbgrader configuration: run nbgrader's own commands from the repository root.

    nbgrader generate_assignment ch01_neuron --force   # solutions/ -> exercises/
    nbgrader autograde ch01_neuron                     # submitted/<student>/ch01_neuron/
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader)

# The course is the folder nbgrader runs in (the repository root).
c.CourseDirectory.root = os.getcwd()
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# The gradebook: SQLite here by default. One PostgreSQL database shared by nngrader and
# nbgrader's formgrader/export (nngrader reads this line; --db overrides it):
#   c.CourseDirectory.db_url = "postgresql+psycopg2://grader@db.example.org/nncourse"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
# Only the notebook is released (no caches, no grader files).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
# Hidden tests draw inputs at grading time; a notebook must finish in seconds.
c.ExecutePreprocessor.timeout = 120
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
