"""The platform layer: boto3 clients (`aws`), S3 storage and its key scheme (`storage`), secrets,
configuration from the environment (`config`), logging and metrics (`observability`), the page cache and
the custom-resource protocol. Other layers' data-access modules also call AWS through `aws` clients
(see the package's docstring)."""
