"""Command-line interface: one typer sub-app per noun; thin commands over library code."""
