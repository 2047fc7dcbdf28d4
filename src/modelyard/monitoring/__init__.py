"""modelyard.monitoring"""
