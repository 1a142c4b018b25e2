"""Thin Lambda handlers: parse the event, call one agent function, emit metrics."""
