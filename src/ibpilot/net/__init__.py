"""ibpilot.net"""
