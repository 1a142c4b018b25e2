"""Lambda code: agents (forward + compensate), shared models, repositories, Powertools setup."""
