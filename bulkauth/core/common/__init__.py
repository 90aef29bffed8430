"""What every protocol shares: the answer model, the step protocol, names, the PSL, tag lists,
and the discovery rule of TXT records found by their version tag (MTA-STS, TLS-RPT, BIMI)."""
