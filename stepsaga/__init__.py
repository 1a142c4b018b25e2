"""The local side of stepsaga: the embedded AWS stack (``embedded``) and the ``stepsaga`` command (``cli``).

Nothing here is deployed: the CDK app is ``infra``, the Lambda code ``functions``, the
saga declarations and their compiler ``statemachines``.
"""
