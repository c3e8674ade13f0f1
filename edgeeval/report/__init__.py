"""Reports from the store alone: HTML with plots, Markdown and CSV (edgeeval report)."""
