"""Helpers the tests and benchmarks share: the tiny synthetic model, the nlpbook baseline, a real server process."""
