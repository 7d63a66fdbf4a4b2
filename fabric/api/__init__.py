"""fabric.api"""
