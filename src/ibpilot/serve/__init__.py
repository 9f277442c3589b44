"""ibpilot.serve"""
