"""ibpilot.gateway"""
