"""DKIM (RFC 6376, 8301, 8463): key records, selector discovery (audit), signature verification."""
