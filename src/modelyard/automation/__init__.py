"""modelyard.automation"""
