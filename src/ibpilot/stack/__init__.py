"""ibpilot.stack"""
