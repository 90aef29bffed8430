"""Questions people ask of the store, answered in SQL (README shows them; tests run each one).

Each query reads the latest run of its command where a single run is meant: a run's time is
when it started or, for a loaded file, when the file was last written.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the latest `domains` run, for the queries about one run
LATEST_DOMAINS_RUN = """
latest AS (
    SELECT run_id FROM runs WHERE command = 'domains'
    ORDER BY coalesce(started_at, ended_at) DESC, run_id DESC LIMIT 1
)"""


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    question: str
    sql: str


POSTURE_WORSE = Query(
    "posture_worse",
    "Which domains' posture got worse from one run to the next?",
    """
WITH ranked AS (
    SELECT DISTINCT d.domain, d.posture, coalesce(r.started_at, r.ended_at) AS run_at, r.run_id,
           CASE d.posture WHEN 'enforced' THEN 0 WHEN 'parked' THEN 0 WHEN 'monitoring' THEN 1
                          WHEN 'unprotected' THEN 2 WHEN 'broken' THEN 3 END AS badness
    FROM domains d JOIN runs r USING (run_id)
    WHERE d.status = 'ok'
), paired AS (
    SELECT domain, posture, run_at, run_id, badness,
           lag(posture) OVER w AS was, lag(badness) OVER w AS was_badness,
           lag(run_id) OVER w AS was_run
    FROM ranked WINDOW w AS (PARTITION BY domain ORDER BY run_at, run_id)
)
SELECT domain, was, posture AS now, was_run, run_id AS run
FROM paired WHERE badness > was_badness
ORDER BY domain, run_at
""",
)

DMARC_POLICIES = Query(
    "dmarc_policies",
    "How many domains have each DMARC policy (latest run)?",
    f"""
WITH {LATEST_DOMAINS_RUN.strip()}
SELECT coalesce(dmarc_policy, 'no policy') AS policy, count(*) AS domains
FROM domains WHERE run_id = (SELECT run_id FROM latest) AND status = 'ok'
GROUP BY ALL ORDER BY domains DESC, policy
""",
)

UNAUTHORISED_DESTINATIONS = Query(
    "unauthorised_report_destinations",
    "Which domains send DMARC reports to a destination that does not authorise them back?",
    f"""
WITH {LATEST_DOMAINS_RUN.strip()}
SELECT domain, tag, uri, destination_domain
FROM report_destinations
WHERE run_id = (SELECT run_id FROM latest) AND external AND authorized = false
ORDER BY domain, n
""",
)

WEAKEST_DKIM_KEYS = Query(
    "weakest_dkim_keys",
    "Which DKIM keys are the weakest (latest run)? An Ed25519 key counts as RSA-3072.",
    f"""
WITH {LATEST_DOMAINS_RUN.strip()}
SELECT domain, selector, key_type, bits, key_hash
FROM dkim_keys
WHERE run_id = (SELECT run_id FROM latest) AND bits IS NOT NULL AND NOT wildcard
ORDER BY CASE key_type WHEN 'ed25519' THEN 3072 ELSE bits END, domain, selector
LIMIT 20
""",
)

DKIM_KEY_GONE = Query(
    "dkim_failed_key_gone",
    "Which messages failed DKIM only because the signing key is gone from DNS?",
    """
SELECT m.run_id, m.path, m.index, m.message_id, m.from_domain,
       list(g.s || '._domainkey.' || g.d ORDER BY g.n) AS missing_keys
FROM messages m JOIN signatures g USING (run_id, path, index)
WHERE m.status = 'ok' AND m.dkim_result <> 'pass'
GROUP BY m.run_id, m.path, m.index, m.message_id, m.from_domain
HAVING bool_and(g.code = 'dkim.key_not_found')
ORDER BY m.run_id, m.path, m.index
""",
)

QUERIES: tuple[Query, ...] = (
    POSTURE_WORSE,
    DMARC_POLICIES,
    UNAUTHORISED_DESTINATIONS,
    WEAKEST_DKIM_KEYS,
    DKIM_KEY_GONE,
)
