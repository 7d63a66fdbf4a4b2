"""Rendering: the only package that uses jinja2. Templates format; Python decides every value."""
