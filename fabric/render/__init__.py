"""fabric.render"""
