"""One archived message: headers, addresses, Received, Authentication-Results, the clock, the check."""
