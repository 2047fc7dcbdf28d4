"""modelyard.ui"""
