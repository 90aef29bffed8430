"""The DKIM key history a store builds by itself: each run that saw keys in DNS adds them.

A run's keys are the ones its domain audit found (`dkim_keys`: not wildcards, not revoked,
with a p= that decodes) and the ones its messages were verified with from DNS (`signatures`
with key_source 'dns'). Each is a sighting at the run's time (its start; a loaded file's
modification time). Per domain and selector, a sighting of the value the latest row holds
widens that row's span; any other value opens a new row, so a rotation A -> B -> A gives
three rows, each span a period the selector really published that value.

Recording is idempotent: a resumed run, or a file loaded again, sights the same keys at the
same time, which changes nothing.
"""

from __future__ import annotations

import duckdb

_SEEN = """
CREATE OR REPLACE TEMP TABLE seen AS
SELECT domain, selector, key_hash, any_value(record) AS record, any_value(key_type) AS key_type,
       any_value(bits) AS bits
FROM (
    SELECT lower(domain) AS domain, lower(selector) AS selector, key_hash, record, key_type, bits
    FROM dkim_keys
    WHERE run_id = $run AND NOT wildcard AND NOT revoked AND key_hash_of = 'key'
      AND key_hash IS NOT NULL
    UNION ALL
    SELECT lower(d), lower(s), key_hash, detail->>'$.key.record', key_type, key_bits
    FROM signatures
    WHERE run_id = $run AND key_source = 'dns' AND key_hash IS NOT NULL
      AND detail->>'$.key.record' IS NOT NULL AND d IS NOT NULL AND s IS NOT NULL
)
GROUP BY domain, selector, key_hash
"""
# the latest run-made row of each (domain, selector) the run saw
_LATEST = """
CREATE OR REPLACE TEMP TABLE latest AS
SELECT h.domain, h.selector, h.key_hash, h.first_seen
FROM key_history h SEMI JOIN (SELECT DISTINCT domain, selector FROM seen) s
     ON h.domain = s.domain AND h.selector = s.selector
WHERE h.source = 'run'
QUALIFY row_number() OVER (PARTITION BY h.domain, h.selector ORDER BY h.last_seen DESC) = 1
"""
_WIDEN = """
UPDATE key_history h
SET first_seen = least(h.first_seen, $at),
    last_seen = greatest(h.last_seen, $at),
    first_run = CASE WHEN $at < h.first_seen THEN $run ELSE h.first_run END,
    last_run = CASE WHEN $at >= h.last_seen THEN $run ELSE h.last_run END
FROM latest l SEMI JOIN seen s
     ON l.domain = s.domain AND l.selector = s.selector AND l.key_hash = s.key_hash
WHERE h.source = 'run' AND h.domain = l.domain AND h.selector = l.selector
  AND h.key_hash = l.key_hash AND h.first_seen = l.first_seen
"""
_OPEN = """
INSERT INTO key_history
SELECT s.domain, s.selector, s.key_hash, s.record, s.key_type, s.bits, $at, $at, $run, $run,
       $via, 'run'
FROM seen s LEFT JOIN latest l ON l.domain = s.domain AND l.selector = s.selector
WHERE l.key_hash IS DISTINCT FROM s.key_hash
"""


def record_run_keys(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Add the keys run ``run_id`` saw to the history (inside the caller's transaction);
    returns how many distinct keys it saw."""
    row = con.execute(
        """
        SELECT coalesce(started_at, ended_at, loaded_at),
               coalesce(zones, CAST(nameservers AS VARCHAR), 'loaded from ' || loaded_from)
        FROM runs WHERE run_id = ?
        """,
        [run_id],
    ).fetchone()
    if row is None or row[0] is None:
        return 0
    at, via = row
    con.execute(_SEEN, {"run": run_id})
    seen = con.execute("SELECT count(*) FROM seen").fetchone()
    if not seen or not seen[0]:
        return 0
    con.execute(_LATEST)
    con.execute(_WIDEN, {"run": run_id, "at": at})
    con.execute(_OPEN, {"run": run_id, "at": at, "via": via})
    con.execute("DROP TABLE seen")
    con.execute("DROP TABLE latest")
    return int(seen[0])
