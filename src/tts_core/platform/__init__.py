"""The only code that touches AWS and the process: boto3 clients, S3 storage and its key scheme,
secrets, logging and metrics."""
