"""Where the embedded stack's resources live: moto's default account, in one region."""

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
