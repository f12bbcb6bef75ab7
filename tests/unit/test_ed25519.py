"""The recorder's small-limb Ed25519 and SHA-512 held to `cryptography` and hashlib."""

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.firmware import ed25519
from firmware_bridge.image import public_key_bytes

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493


def _number(limbs):
    return sum(limb << (12 * i) for i, limb in enumerate(limbs))


def _cryptography_accepts(public, message, signature):
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def test_constants_are_the_curve_constants():
    d = -121665 * pow(121666, P - 2, P) % P
    assert _number(ed25519._D) == d
    assert _number(ed25519._D2) == 2 * d % P
    assert _number(ed25519._SQRT_M1) == pow(2, (P - 1) // 4, P)
    base_y = 4 * pow(5, P - 2, P) % P
    base_x = _number(ed25519._BASE_X)
    assert _number(ed25519._BASE_Y) == base_y
    assert (-(base_x**2) + base_y**2 - 1 - d * base_x**2 * base_y**2) % P == 0
    assert base_x % 2 == 0  # the base point's x is the even root
    assert int.from_bytes(ed25519._L_BYTES, "little") == L


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**264 - 1), st.integers(0, 2**264 - 1))
def test_field_products_stay_small_and_are_right_mod_p(a, b):
    x = [(a >> (12 * i)) & 0xFFF for i in range(22)]
    y = [(b >> (12 * i)) & 0xFFF for i in range(22)]
    out = ed25519._fe()
    ed25519._mul(out, x, y)
    assert all(0 <= limb < 4096 for limb in out)
    assert _number(out) % P == a * b % P
    ed25519._sq(out, x)
    assert _number(out) % P == a * a % P
    ed25519._sub(out, x, y)
    assert _number(out) % P == (a - b) % P
    ed25519._freeze(out, x)
    assert _number(out) == a % P


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=300))
def test_sha512_matches_hashlib(data):
    assert ed25519.sha512(data) == hashlib.sha512(data).digest()


@settings(max_examples=12, deadline=None)
@given(
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=200),
    st.integers(0, 63),
    st.integers(0, 7),
)
def test_signature_check_agrees_with_cryptography(seed, message, flip_byte, flip_bit):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = public_key_bytes(key)
    signature = key.sign(message)
    assert ed25519.verify(public, message, signature)
    tampered = bytearray(signature)
    tampered[flip_byte] ^= 1 << flip_bit
    assert ed25519.verify(public, message, bytes(tampered)) == _cryptography_accepts(
        public, message, bytes(tampered)
    )
    assert not ed25519.verify(public, message + b"\x00", signature)
    other = public_key_bytes(Ed25519PrivateKey.from_private_bytes(bytes(reversed(seed))))
    if other != public:
        assert not ed25519.verify(other, message, signature)


def test_a_non_canonical_s_is_refused():
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    signature = key.sign(b"manifest")
    s = int.from_bytes(signature[32:], "little") + L  # the same point, a malleable encoding
    forged = signature[:32] + s.to_bytes(32, "little")
    assert not ed25519.verify(public_key_bytes(key), b"manifest", forged)
    assert not _cryptography_accepts(public_key_bytes(key), b"manifest", forged)
