"""SPF (RFC 7208): record parsing, macro expansion, check_host evaluation, and the domain audit."""
