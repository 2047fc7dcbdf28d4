"""modelyard.tracking"""
