"""ibpilot.sim"""
