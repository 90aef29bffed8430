"""bulkauth: verify SPF, DKIM and DMARC in bulk, fast."""

__version__ = "0.1.0"
