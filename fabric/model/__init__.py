"""fabric.model"""
