"""The book as a whole: the executor on small books and its reliability, the built HTML and site,
the browser, and the repository around it (README, environment, workflows, docstrings)."""
