"""ibpilot.controller"""
