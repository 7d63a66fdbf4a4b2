"""fabric.switch"""
