"""ibpilot.agent"""
