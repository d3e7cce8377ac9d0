"""The tests, laid out as the package: ``unit/`` mirrors ``sgdllm/`` (seconds), ``chapters/``
checks the paper's claims on chapters executed with the CI profile, ``book/`` the executor, the
built site and the repository around it, ``models/`` the pretrained language models."""
