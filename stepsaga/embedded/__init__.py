"""The embedded local stack: the synthesized CDK template deployed into moto, in-process."""

from stepsaga.embedded.stack import EmbeddedStack

__all__ = ["EmbeddedStack"]
