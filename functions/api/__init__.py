"""The HTTP API over sagas: start, list, status, history and the signals (approve, cancel, priority).

``functions.api.app`` holds the Powertools resolver; ``functions.handlers.api`` is the thin
Lambda handler API Gateway (REST, proxy integration) invokes.
"""
