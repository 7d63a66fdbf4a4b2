"""fabric.firewall"""
