"""Mail transport security: MTA-STS policies, STARTTLS, DANE, judged without I/O."""
