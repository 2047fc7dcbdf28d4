"""modelyard.governance"""
