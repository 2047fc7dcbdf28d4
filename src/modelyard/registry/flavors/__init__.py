"""modelyard.registry.flavors"""
