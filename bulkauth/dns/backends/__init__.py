"""The backends behind the one seam (``bulkauth.dns.backend.Backend``).

- ``udp``: the lean asyncio UDP/TCP client (the default live backend);
- ``aiodns``: c-ares through aiodns;
- ``zonefile``: RFC 1035 master files, answered as an authoritative server would (``--zones``);
- ``memory``: answers from a dict or a function, recording every query, with injected faults
  (tests);
- ``snapshot``: a recorded run's answers (``--replay-dns``), and the wrapper around any of the
  others that records them (``--record-dns``);
- ``health``: the round robin and backoff over nameservers shared by ``udp`` and ``aiodns``.
"""
