"""modelyard.validation"""
