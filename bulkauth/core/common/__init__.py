"""What every protocol shares: the answer model, the step protocol, names, the PSL, tag lists."""
