"""modelyard.explain"""
