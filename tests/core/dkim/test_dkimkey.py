"""DKIM key records: RFC 6376 3.6.1 parsing and RFC 8301 / RFC 8463 grading, with real keys."""

from __future__ import annotations

import base64
import functools
import json
import secrets

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from bulkauth.core.dkim.key import DkimKey, parse_dkim_key
from tests.paths import suite

DATA = suite("dkimpy-1.1.8-data")
needs_suite = pytest.mark.suite("dkimpy-1.1.8-data")

# Generating a 4096-bit key takes seconds on this machine; this one was made once with cryptography.
RSA_4096_SPKI = (
    "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAxfeei5f21N2q8svwF3S3TL+OrPVOAS2FDBbSivq3ksfn2yF8"
    "GjDEDrPC0J3uidUUVDjOev0mLpR9ap9nLnykftR28eyLBIV29NgbyLUNi7f0McY0PfJM3/lkf22jjVe2UG/iAzN9cyEr"
    "yJm6KB7zeUJdJoh8bRfsoyqVSMbNpbLq24B5mheAt72/Le1GthWInIsdBSc8uGra3EPOuii2xcTKA23NX0ngaEvP646S"
    "Phj7u1YH+ojv7JKhkUGfQbIsrA7SnOQGQvGWcPoBC5uOWotd5pRrTGdE/SHURmh//Gyqj+KoKLz0UsmvtPtAivGxt9oZ"
    "j3dqdoLlecxX9EtkYIoaUvuGQ8ORPg/WdnPPlV4mZJ70aRodrC9ZlDulm8Y31ZE1J7j9jARJfKvyiiYU1uH2xHS9Qt3z"
    "oOHwHD9W0JAGen08KeSs8r2GhCmY6SA0UHJPUYxwZn70oMshkcRucKNnCrKckiEEhxb08fJZB6npBLKDGxWPb39SjQuI"
    "RR5jDfWDXnS2dk+qvGkVs74g1mW1hMIdkUJkmmhnbn3oiY8lyqYqWpW3J5AcU/pf/d0VhRIdNONaNCRcIykPc0u9o5Qh"
    "wW9TZEsjsY7E06gKlO4laj8RhLqFkAQnnX31uB2G2obgzb3WAEo7Q5KqB+9cJ1sx3YFdK6t4kz7eSXJ+VVUCAwEAAQ=="
)


@functools.cache
def rsa_private(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def spki(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey) -> str:
    return b64(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def pkcs1(key: rsa.RSAPublicKey) -> str:
    return b64(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1))


def rsa_of_bits(bits: int) -> rsa.RSAPublicKey:
    """A public key of any size, from numbers: loading never checks that n is a real modulus."""
    n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    return rsa.RSAPublicNumbers(65537, n).public_key()


def codes(key: DkimKey) -> list[str]:
    return [p.code for p in key.problems]


def severity(key: DkimKey, code: str) -> str:
    return next(p.severity for p in key.problems if p.code == code)


# --- keys and their sizes ---------------------------------------------------------------------


def test_rsa_2048_spki_is_clean_and_verifies_a_signature() -> None:
    priv = rsa_private(2048)
    key = parse_dkim_key(f"v=DKIM1; k=rsa; p={spki(priv.public_key())}")
    assert codes(key) == []
    assert (key.key_type, key.key_bits, key.key_format) == ("rsa", 2048, "spki")
    assert key.usable and not key.revoked
    pub = key.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    assert pub.public_numbers() == priv.public_key().public_numbers()
    # The exposed object is what the message verifier will use.
    sig = priv.sign(b"header hash", padding.PKCS1v15(), hashes.SHA256())
    pub.verify(sig, b"header hash", padding.PKCS1v15(), hashes.SHA256())


def test_rsa_1024_is_weak_but_usable() -> None:
    key = parse_dkim_key(f"v=DKIM1; p={spki(rsa_private(1024).public_key())}")
    assert codes(key) == ["dkim.key_weak"]
    assert severity(key, "dkim.key_weak") == "warning"
    assert key.key_bits == 1024 and key.usable


def test_rsa_4096_is_clean() -> None:
    key = parse_dkim_key(f"v=DKIM1; k=rsa; p={RSA_4096_SPKI}")
    assert codes(key) == [] and key.key_bits == 4096 and key.usable


@pytest.mark.parametrize("bits", [512, 768, 1023])
def test_rsa_under_1024_is_an_error(bits: int) -> None:
    key = parse_dkim_key(f"p={spki(rsa_of_bits(bits))}")
    assert codes(key) == ["dkim.key_too_small"]
    assert severity(key, "dkim.key_too_small") == "error"
    assert key.key_bits == bits and not key.usable


def test_rsa_over_4096_is_a_warning() -> None:
    key = parse_dkim_key(f"p={spki(rsa_of_bits(8192))}")
    assert codes(key) == ["dkim.key_too_large"] and key.key_bits == 8192 and key.usable


def test_bare_pkcs1_key_is_accepted_with_a_warning() -> None:
    pub = rsa_private(2048).public_key()
    key = parse_dkim_key(f"v=DKIM1; p={pkcs1(pub)}")
    assert codes(key) == ["dkim.pkcs1_key"]
    assert severity(key, "dkim.pkcs1_key") == "warning"
    assert key.key_format == "pkcs1" and key.key_bits == 2048
    loaded = key.public_key()
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == pub.public_numbers()


def test_ed25519_raw_key_verifies_a_signature() -> None:
    priv = ed25519.Ed25519PrivateKey.generate()
    raw = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = parse_dkim_key(f"v=DKIM1; k=ed25519; p={b64(raw)}")
    assert codes(key) == []
    assert (key.key_type, key.key_bits, key.key_format) == ("ed25519", 256, "raw")
    pub = key.public_key()
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    pub.verify(priv.sign(b"data"), b"data")


def test_ed25519_must_be_32_raw_bytes() -> None:
    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    as_spki = parse_dkim_key(f"k=ed25519; p={spki(pub)}")
    assert (
        codes(as_spki) == ["dkim.key_malformed"] and "32 raw bytes" in as_spki.problems[0].message
    )
    short = parse_dkim_key(f"k=ed25519; p={b64(bytes(31))}")
    assert codes(short) == ["dkim.key_malformed"] and not short.usable


def test_rsa_tag_with_a_non_rsa_key_is_malformed() -> None:
    ed = parse_dkim_key(f"k=rsa; p={spki(ed25519.Ed25519PrivateKey.generate().public_key())}")
    assert codes(ed) == ["dkim.key_malformed"] and "Ed25519" in ed.problems[0].message
    ecdsa = parse_dkim_key(f"p={spki(ec.generate_private_key(ec.SECP256R1()).public_key())}")
    assert codes(ecdsa) == ["dkim.key_malformed"]


@pytest.mark.parametrize(
    "p",
    [
        "not*base64!",
        "MIIBIjANBgkq",  # truncated: length not a multiple of 4
        b64(b"\x30\x03\x02\x01\x01"),  # DER, but not a key
        b64(b"hello world, no key here"),
    ],
)
def test_undecodable_key_data_is_malformed(p: str) -> None:
    key = parse_dkim_key(f"v=DKIM1; p={p}")
    assert codes(key) == ["dkim.key_malformed"]
    assert severity(key, "dkim.key_malformed") == "error"
    assert key.public_key() is None and not key.usable


def test_key_data_may_be_folded_with_whitespace() -> None:
    data = spki(rsa_private(2048).public_key())
    folded = " ".join(data[i : i + 64] for i in range(0, len(data), 64))
    key = parse_dkim_key(f"v=DKIM1; k=rsa;\r\n\tp={folded}")
    assert codes(key) == [] and key.key_bits == 2048


def test_same_key_has_same_fingerprint_whatever_the_folding() -> None:
    data = spki(rsa_private(2048).public_key())
    a = parse_dkim_key(f"p={data}")
    b = parse_dkim_key(f"v=DKIM1; p={data[:100]} {data[100:]}")
    assert a.key_sha256 is not None and a.key_sha256 == b.key_sha256
    assert len(a.key_sha256) == 64


# --- tags -------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", ["v=DKIM1; p=", "v=DKIM1; k=rsa; p= ;", "p="])
def test_empty_p_means_revoked(record: str) -> None:
    key = parse_dkim_key(record)
    assert codes(key) == ["dkim.key_revoked"]
    assert severity(key, "dkim.key_revoked") == "warning"
    assert key.revoked and key.public_key() is None and not key.usable


def test_testing_and_strict_flags() -> None:
    data = spki(rsa_private(2048).public_key())
    testing = parse_dkim_key(f"v=DKIM1; t=y; p={data}")
    assert codes(testing) == ["dkim.testing"] and testing.testing and not testing.strict
    assert severity(testing, "dkim.testing") == "warning"
    strict = parse_dkim_key(f"v=DKIM1; t=s; p={data}")
    assert codes(strict) == [] and strict.strict and not strict.testing
    both = parse_dkim_key(f"t = y : s : x ; p={data}")  # unknown flags are ignored
    assert both.testing and both.strict and both.flags == ("y", "s", "x")


def test_hash_algorithms() -> None:
    data = spki(rsa_private(2048).public_key())
    sha1 = parse_dkim_key(f"v=DKIM1; h=sha1; p={data}")
    assert codes(sha1) == ["dkim.sha1_only"] and severity(sha1, "dkim.sha1_only") == "error"
    assert not sha1.allows_hash("sha256") and sha1.allows_hash("sha1")
    both = parse_dkim_key(f"v=DKIM1; h=sha1:sha256; p={data}")
    assert codes(both) == [] and both.hashes == ("sha1", "sha256") and both.allows_hash("SHA256")
    unknown = parse_dkim_key(f"h=md5:sha512; p={data}")
    assert codes(unknown) == ["dkim.unknown_hash"]
    absent = parse_dkim_key(f"p={data}")
    assert absent.hashes is None and absent.allows_hash("sha1") and absent.allows_hash("sha256")


@pytest.mark.parametrize("k", ["dsa", "ed25519-sha256", "ecdsa"])
def test_unknown_key_type(k: str) -> None:
    key = parse_dkim_key(f"v=DKIM1; k={k}; p={spki(rsa_private(2048).public_key())}")
    assert codes(key) == ["dkim.unknown_key_type"] and key.key_type == k
    assert key.public_key() is None and not key.usable


@pytest.mark.parametrize(
    ("record", "ok"),
    [
        ("v=DKIM1; p={p}", True),
        ("v=dkim1; p={p}", True),  # RFC 5234 literals are case-insensitive
        ("p={p}", True),  # v= is optional
        ("v=DKIM2; p={p}", False),
        ("v=spf1 -all; p={p}", False),
        ("k=rsa; v=DKIM1; p={p}", False),  # v= must come first
    ],
)
def test_version(record: str, ok: bool) -> None:
    key = parse_dkim_key(record.format(p=spki(rsa_private(2048).public_key())))
    assert codes(key) == ([] if ok else ["dkim.bad_version"])


@pytest.mark.parametrize(
    ("services", "ok"),
    [("email", True), ("*", True), ("email:tlsrpt", True), ("tlsrpt", False), ("", False)],
)
def test_service_types(services: str, ok: bool) -> None:
    key = parse_dkim_key(f"v=DKIM1; s={services}; p={spki(rsa_private(2048).public_key())}")
    assert codes(key) == ([] if ok else ["dkim.service_not_email"])


def test_unknown_tags_are_ignored() -> None:
    key = parse_dkim_key(
        f"v=DKIM1; g=*; n=notes for humans; x_y=1; p={spki(rsa_private(2048).public_key())}"
    )
    assert codes(key) == [] and key.notes == "notes for humans"


@pytest.mark.parametrize(
    "record",
    [
        "v=DKIM1; k=rsa",  # no p=
        "v=DKIM1; garbage; p={p}",
        "v=DKIM1; k=rsa; k=rsa; p={p}",  # duplicate tag
        "v=DKIM1; 1k=rsa; p={p}",  # tag names start with a letter
        "v=DKIM1; n=caf\u00e9; p={p}",  # values are printable ASCII
        "",
    ],
)
def test_syntax_errors(record: str) -> None:
    key = parse_dkim_key(record.format(p=spki(rsa_private(2048).public_key())))
    assert "dkim.syntax" in codes(key)
    assert severity(key, "dkim.syntax") == "error" and not key.usable


def test_syntax_error_still_reports_the_key_size() -> None:
    key = parse_dkim_key(f"v=DKIM1; oops; p={spki(rsa_private(1024).public_key())}")
    assert codes(key) == ["dkim.syntax", "dkim.key_weak"] and key.key_bits == 1024


def test_results_are_cached_and_immutable() -> None:
    record = f"v=DKIM1; p={spki(rsa_private(2048).public_key())}"
    assert parse_dkim_key(record) is parse_dkim_key(record)
    assert parse_dkim_key(record) == parse_dkim_key(record + " ")  # equal by value, key aside


def test_to_dict_is_json() -> None:
    key = parse_dkim_key(f"v=DKIM1; h=sha256; t=y; p={spki(rsa_private(1024).public_key())}")
    d = json.loads(json.dumps(key.to_dict()))
    assert d["key_type"] == "rsa" and d["key_bits"] == 1024 and d["key_format"] == "spki"
    assert d["hash_algorithms"] == ["sha256"] and d["testing"] is True and d["strict"] is False
    assert d["service_types"] == ["*"] and d["revoked"] is False
    assert {p["code"] for p in d["problems"]} == {"dkim.testing", "dkim.key_weak"}


def test_oversized_record_is_not_parsed() -> None:
    key = parse_dkim_key("p=" + "A" * 20_000)
    assert codes(key) == ["dkim.syntax"]


# --- dkimpy's test data -----------------------------------------------------------------------

SUITE_EXPECT = {
    "1024_testkey_wo_markers.pub.txt": ("rsa", 1024, "spki", ["dkim.key_weak"]),
    "1024_testkey_wo_markers.pub.rsa.txt": (
        "rsa",
        1024,
        "pkcs1",
        ["dkim.pkcs1_key", "dkim.key_weak"],
    ),
    "2048_testkey_wo_markers.pub.txt": ("rsa", 2048, "spki", []),
    "2048_testkey_wo_markers.pub.rsa.txt": ("rsa", 2048, "pkcs1", ["dkim.pkcs1_key"]),
    "2048_testkey_PKCS8.key.pub.txt": ("rsa", 2048, "spki", []),
    "ed25519test.dns": ("ed25519", 256, "raw", []),
    "eximtest.dns": ("ed25519", 256, "raw", []),
    "test.txt": ("rsa", 1024, "spki", ["dkim.key_weak"]),
    "test2.txt": ("rsa", 1024, "spki", ["dkim.key_weak"]),  # no k=: rsa by default
    "badk.txt": ("ed25519-sha256", None, None, ["dkim.unknown_key_type"]),
    "badversion.txt": ("rsa", 1024, "spki", ["dkim.bad_version", "dkim.key_weak"]),
    "test_bad.txt": ("rsa", None, None, ["dkim.key_malformed"]),  # modulus cut short
    "test_tlsrpt.txt": ("rsa", 1024, "spki", ["dkim.service_not_email", "dkim.key_weak"]),
}


@needs_suite
@pytest.mark.parametrize("name", sorted(SUITE_EXPECT))
def test_dkimpy_key_records(name: str) -> None:
    key = parse_dkim_key((DATA / name).read_text().strip())
    assert (key.key_type, key.key_bits, key.key_format, codes(key)) == SUITE_EXPECT[name]


@needs_suite
def test_dkimpy_keys_match_their_private_keys() -> None:
    pem = serialization.load_pem_private_key((DATA / "2048_testkey.key").read_bytes(), None)
    assert isinstance(pem, rsa.RSAPrivateKey)
    for name in ("2048_testkey_wo_markers.pub.txt", "2048_testkey_wo_markers.pub.rsa.txt"):
        pub = parse_dkim_key((DATA / name).read_text().strip()).public_key()
        assert isinstance(pub, rsa.RSAPublicKey)
        assert pub.public_numbers() == pem.public_key().public_numbers()
    seed = base64.b64decode((DATA / "ed25519test.key").read_text())
    priv = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    pub_ed = parse_dkim_key((DATA / "ed25519test.dns").read_text().strip()).public_key()
    assert isinstance(pub_ed, ed25519.Ed25519PublicKey)
    pub_ed.verify(priv.sign(b"message"), b"message")


# --- never raises -----------------------------------------------------------------------------


@given(st.text(max_size=300))
def test_parser_never_raises(text: str) -> None:
    key = parse_dkim_key(text)
    json.dumps(key.to_dict())


_TAGGY = st.lists(
    st.tuples(
        st.sampled_from(["v", "k", "h", "p", "s", "t", "n", "g", "1", ""]),
        st.one_of(
            st.sampled_from(
                ["DKIM1", "rsa", "ed25519", "sha1:sha256", "", "y:s", "*", "email", "=="]
            ),
            st.text(alphabet="ABCDEFabcdef0123456789+/= \t\r\n:;", max_size=60),
        ),
    ),
    max_size=8,
)


@given(_TAGGY)
def test_parser_never_raises_on_tag_soup(tags: list[tuple[str, str]]) -> None:
    parse_dkim_key("; ".join(f"{k}={v}" for k, v in tags)).to_dict()
