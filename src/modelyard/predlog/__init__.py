"""modelyard.predlog"""
