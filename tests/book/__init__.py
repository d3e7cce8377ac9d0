"""The book as a whole: the executor on small books and its reliability, the settings table read
from the chapters, the built HTML and site, the browser, and the repository around it (README,
environment, workflows, docstrings)."""
