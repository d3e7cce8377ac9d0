"""sgdllm: can language models predict the convergence of SGD?"""
