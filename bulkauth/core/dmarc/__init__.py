"""DMARC (RFC 7489, RFC 9989 discovery): records, policy discovery, report destinations, alignment."""
