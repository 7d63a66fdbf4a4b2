"""fabric.core"""
