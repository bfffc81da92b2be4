"""Builders for tiny random-weight models and generated videos.

Used by the test suite, `make demo` and the benchmarks: everything here works offline and on a CPU.
"""
