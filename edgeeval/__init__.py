"""edgeeval: how does this model really run on that board?"""

__version__ = "0.1.0"
