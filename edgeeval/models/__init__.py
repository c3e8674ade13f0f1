"""Built-in model and data callables that recipes name as `edgeeval.models.<mod>:<fn>`.

Kept import-free: recipes hash these modules' source files without importing them.
"""
