"""Connections for the opt-in probes (``domains --probe``): HTTPS for MTA-STS policies, SMTP
with STARTTLS. Only connecting lives here; what the bytes mean is judged in core.transport."""
