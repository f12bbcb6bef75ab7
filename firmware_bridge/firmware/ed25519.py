"""Ed25519 signature check (RFC 8032), in small integers only, for firmware images.

The recorder must check an image's signature itself: a dock that could sign could brick or
downgrade every recorder it touches. MicroPython has neither `cryptography` nor SHA-512,
and on a 32-bit port an integer past 2**30 leaves the small-int range for a heap-allocated
big integer. So every number here stays below 2**30, the way TweetNaCl keeps its field
arithmetic in limbs: a field element is 22 limbs of 12 bits (264 bits; 22 products of two
limbs sum to under 2**29), a SHA-512 word is four 16-bit limbs. The hot paths write into
lists given to them instead of making new ones (about 18 KB allocated per check): on the
WASI MicroPython the tests run, a garbage collection in the middle of a check can corrupt
memory, so a check must not need one.

Verification only (the recorder never signs), cofactorless like OpenSSL: [s]B - [k]A must
encode to R byte for byte. Tests hold it to `cryptography`'s answers.
"""

import binascii

_LIMBS = 22
_BITS = 12
_MASK = 0xFFF
# 2**264 = 2**9 * 2**255, and 2**255 = 19 (mod p): what a carry out of the top limb is worth.
_FOLD = 9728


def _fe():
    return [0] * _LIMBS


# Scratch space: the recorder checks one signature at a time, and the hot paths must not
# allocate (see the module docstring), so every product lands here first.
_PRODUCT = [0] * (2 * _LIMBS)


def _carry(t):
    """Limbs back into [0, 4096), in place; a carry out of the top comes back in at limb 0."""
    c = 0
    for i in range(_LIMBS):
        v = t[i] + c
        t[i] = v & _MASK
        c = v >> _BITS
    while c:
        c *= _FOLD
        for i in range(_LIMBS):
            v = t[i] + c
            t[i] = v & _MASK
            c = v >> _BITS
            if not c:
                break


def _reduce_product(out):
    """The 44 product columns carried, then the top half folded onto the bottom, into out."""
    t = _PRODUCT
    c = 0
    for k in range(2 * _LIMBS):
        v = t[k] + c
        t[k] = v & _MASK
        c = v >> _BITS
    for k in range(_LIMBS):
        out[k] = t[k] + t[k + _LIMBS] * _FOLD
    _carry(out)


def _mul(out, a, b):
    """out = a * b; out may be a or b (the product is taken whole before out is written)."""
    t = _PRODUCT
    for k in range(2 * _LIMBS):
        t[k] = 0
    for i in range(_LIMBS):
        ai = a[i]
        k = i
        for bj in b:
            t[k] += ai * bj
            k += 1
    _reduce_product(out)


def _sq(out, a):
    """out = a * a, each cross product taken once and doubled: a square is half a product."""
    t = _PRODUCT
    for k in range(2 * _LIMBS):
        t[k] = 0
    for i in range(_LIMBS):
        ai = a[i]
        t[2 * i] += ai * ai
        twice = ai + ai
        k = 2 * i + 1
        for j in range(i + 1, _LIMBS):
            t[k] += twice * a[j]
            k += 1
    _reduce_product(out)


def _add(out, a, b):
    for i in range(_LIMBS):
        out[i] = a[i] + b[i]
    _carry(out)


def _sub(out, a, b):
    for i in range(_LIMBS):
        out[i] = a[i] - b[i]
    _carry(out)


def _pow2k(out, a, k):
    """out = a ** (2 ** k)."""
    _sq(out, a)
    for _ in range(k - 1):
        _sq(out, out)


def _freeze(out, a):
    """out = the one representation of a in [0, p): what equality and encoding need."""
    for i in range(_LIMBS):
        out[i] = a[i]
    for _ in range(2):  # bits from 255 up are worth 19 each
        c = 19 * (out[21] >> 3)
        out[21] &= 7
        for i in range(_LIMBS):
            v = out[i] + c
            out[i] = v & _MASK
            c = v >> _BITS
    # Now out < 2**255; it is at least p exactly when out + 19 reaches 2**255.
    c = 19
    for i in range(_LIMBS - 1):
        c = (out[i] + c) >> _BITS
    if (out[21] + c) >> 3:
        c = 19
        for i in range(_LIMBS):
            v = out[i] + c
            out[i] = v & _MASK
            c = v >> _BITS
        out[21] &= 7


def _from_bytes(raw):
    """The 256-bit little-endian number as limbs (the caller masks the sign bit first)."""
    t = []
    acc = 0
    nbits = 0
    for byte in raw:
        acc |= byte << nbits
        nbits += 8
        if nbits >= _BITS:
            t.append(acc & _MASK)
            acc >>= _BITS
            nbits -= _BITS
    t.append(acc)
    return t


def _to_bytes(a):
    frozen = _fe()
    _freeze(frozen, a)
    out = bytearray()
    acc = 0
    nbits = 0
    for limb in frozen:
        acc |= limb << nbits
        nbits += _BITS
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    return bytes(out[:32])


def _equal(a, b):
    x, y = _fe(), _fe()
    _freeze(x, a)
    _freeze(y, b)
    return x == y


def _pow_2_250_minus_1(z):
    """(z**(2**250 - 1), z**11): the shared start of inversion and square root (ref10)."""
    t0, t1, t2, z11 = _fe(), _fe(), _fe(), _fe()
    _sq(t0, z)
    _pow2k(t1, t0, 2)
    _mul(t1, t1, z)  # z**9
    _mul(z11, t0, t1)
    _sq(t0, z11)
    _mul(t1, t1, t0)  # 2**5 - 1
    _pow2k(t0, t1, 5)
    _mul(t1, t0, t1)  # 2**10 - 1
    _pow2k(t0, t1, 10)
    _mul(t2, t0, t1)  # 2**20 - 1
    _pow2k(t0, t2, 20)
    _mul(t2, t0, t2)  # 2**40 - 1
    _pow2k(t0, t2, 10)
    _mul(t1, t0, t1)  # 2**50 - 1
    _pow2k(t0, t1, 50)
    _mul(t2, t0, t1)  # 2**100 - 1
    _pow2k(t0, t2, 100)
    _mul(t2, t0, t2)  # 2**200 - 1
    _pow2k(t0, t2, 50)
    _mul(t1, t0, t1)  # 2**250 - 1
    return t1, z11


def _invert(out, z):
    t, z11 = _pow_2_250_minus_1(z)
    _pow2k(t, t, 5)
    _mul(out, t, z11)  # z**(p - 2)


def _pow_p58(out, z):
    t, _ = _pow_2_250_minus_1(z)
    _pow2k(t, t, 2)
    _mul(out, t, z)  # z**((p - 5) / 8)


def _constant(hex_le):
    return _from_bytes(binascii.unhexlify(hex_le))


_ZERO = _fe()
_ONE = [1] + [0] * (_LIMBS - 1)
# Little-endian encodings; tests/unit/test_ed25519.py derives each from its formula.
_D = _constant("a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352")
_D2 = _constant("59f1b226949bd6eb56b183829a14e00030d1f3eef2808e19e7fcdf56dcd90624")
_SQRT_M1 = _constant("b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b")
_BASE_X = _constant("1ad5258f602d56c9b2a7259560c72c695cdcd6fd31e2a4c0fe536ecdd3366921")
_BASE_Y = _constant("5866666666666666666666666666666666666666666666666666666666666666")
_L_BYTES = binascii.unhexlify("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")


def _point():
    return [_fe(), _fe(), _fe(), _fe()]


def _identity():
    return [_fe(), list(_ONE), list(_ONE), _fe()]


_BASE = [_BASE_X, _BASE_Y, _ONE, _fe()]
_mul(_BASE[3], _BASE_X, _BASE_Y)
_TEMPS = [_fe() for _ in range(8)]


def _point_add(out, p1, p2):
    """out = p1 + p2 in extended coordinates (X, Y, Z, T) on -x^2 + y^2 = 1 + d x^2 y^2.

    add-2008-hwcd-3; out may be p1 or p2: both are read whole before out is written.
    """
    a, b, c, d, e, f, g, h = _TEMPS
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    _sub(a, y1, x1)
    _sub(e, y2, x2)
    _mul(a, a, e)
    _add(b, y1, x1)
    _add(e, y2, x2)
    _mul(b, b, e)
    _mul(c, t1, t2)
    _mul(c, c, _D2)
    _add(d, z1, z1)
    _mul(d, d, z2)
    _sub(e, b, a)
    _sub(f, d, c)
    _add(g, d, c)
    _add(h, b, a)
    _mul(out[0], e, f)
    _mul(out[1], g, h)
    _mul(out[2], f, g)
    _mul(out[3], e, h)


def _point_double(out, p):
    """out = 2p (dbl-2008-hwcd with a = -1: four squares and four products); out may be p."""
    a, b, c, _, e, f, g, h = _TEMPS
    x1, y1, z1, _ = p
    _sq(a, x1)
    _sq(b, y1)
    _sq(c, z1)
    _add(c, c, c)
    _add(e, x1, y1)
    _sq(e, e)
    _sub(e, e, a)
    _sub(e, e, b)
    _sub(g, b, a)
    _sub(f, g, c)
    _add(h, a, b)
    _sub(h, _ZERO, h)
    _mul(out[0], e, f)
    _mul(out[1], g, h)
    _mul(out[2], f, g)
    _mul(out[3], e, h)


def _encode(p):
    z_inv, x, y = _fe(), _fe(), _fe()
    _invert(z_inv, p[2])
    _mul(x, p[0], z_inv)
    _mul(y, p[1], z_inv)
    _freeze(x, x)
    out = bytearray(_to_bytes(y))
    out[31] |= (x[0] & 1) << 7
    return bytes(out)


def _decompress(raw):
    """The point a 32-byte encoding names, or None when it names none (RFC 8032 5.1.3)."""
    if len(raw) != 32:
        return None
    sign = raw[31] >> 7
    y = _from_bytes(bytes(raw[:31]) + bytes([raw[31] & 0x7F]))
    frozen = _fe()
    _freeze(frozen, y)
    if frozen != y:  # y >= p: not a canonical encoding
        return None
    y2, u, v, v3, t, x = _fe(), _fe(), _fe(), _fe(), _fe(), _fe()
    _sq(y2, y)
    _sub(u, y2, _ONE)
    _mul(v, _D, y2)
    _add(v, v, _ONE)
    _sq(v3, v)
    _mul(v3, v3, v)
    _sq(t, v3)
    _mul(t, t, v)
    _mul(t, t, u)  # u v**7
    _pow_p58(t, t)
    _mul(x, u, v3)
    _mul(x, x, t)  # u v**3 (u v**7)**((p - 5) / 8)
    _sq(t, x)
    _mul(t, t, v)  # v x**2
    if not _equal(t, u):
        _sub(u, _ZERO, u)
        if not _equal(t, u):
            return None
        _mul(x, x, _SQRT_M1)
    _freeze(x, x)
    if x == _ZERO and sign:
        return None
    if (x[0] & 1) != sign:
        _sub(x, _ZERO, x)
    point = [x, y, list(_ONE), _fe()]
    _mul(point[3], x, y)
    return point


def _is_below_l(s):
    """s (32 bytes little-endian) < L, the group order: a larger s is malleable."""
    for i in range(31, -1, -1):
        if s[i] != _L_BYTES[i]:
            return s[i] < _L_BYTES[i]
    return False


def _limbs_below(a, b):
    for i in range(len(a) - 1, -1, -1):
        if a[i] != b[i]:
            return a[i] < b[i]
    return False


def _reduce_mod_l(digest):
    """The 512-bit little-endian digest mod L, by shift and subtract on 16-bit limbs."""
    order = [_L_BYTES[i] | (_L_BYTES[i + 1] << 8) for i in range(0, 32, 2)]
    r = [0] * 16
    for byte_index in range(63, -1, -1):
        byte = digest[byte_index]
        for bit_index in range(7, -1, -1):
            c = (byte >> bit_index) & 1
            for i in range(16):  # r = 2r + bit: r < L < 2**253, so it stays in 16 limbs
                v = (r[i] << 1) | c
                r[i] = v & 0xFFFF
                c = v >> 16
            if not _limbs_below(r, order):
                borrow = 0
                for i in range(16):
                    v = r[i] - order[i] - borrow
                    r[i] = v & 0xFFFF
                    borrow = 1 if v < 0 else 0
    out = bytearray()
    for limb in r:
        out.append(limb & 0xFF)
        out.append(limb >> 8)
    return bytes(out)


def _bit(scalar, i):
    return (scalar[i >> 3] >> (i & 7)) & 1


def _double_scalar_mult(s, k, point_a):
    """[s]B + [k]A in one pass of doublings (Straus): half the doublings of two passes."""
    b_plus_a = _point()
    _point_add(b_plus_a, _BASE, point_a)
    result = _identity()
    top = 255
    while top >= 0 and not (_bit(s, top) or _bit(k, top)):
        top -= 1
    for i in range(top, -1, -1):
        _point_double(result, result)
        bit_s = _bit(s, i)
        bit_k = _bit(k, i)
        if bit_s and bit_k:
            _point_add(result, result, b_plus_a)
        elif bit_s:
            _point_add(result, result, _BASE)
        elif bit_k:
            _point_add(result, result, point_a)
    return result


def verify(public_key, message, signature):
    """True when signature (64 bytes) is public_key's (32 bytes) signature of message."""
    if len(signature) != 64 or len(public_key) != 32:
        return False
    point_a = _decompress(bytes(public_key))
    if point_a is None:
        return False
    s = bytes(signature[32:])
    if not _is_below_l(s):
        return False
    r = bytes(signature[:32])
    k = _reduce_mod_l(sha512(r + bytes(public_key) + bytes(message)))
    _sub(point_a[0], _ZERO, point_a[0])  # -A: the check is [s]B - [k]A == R
    _sub(point_a[3], _ZERO, point_a[3])
    return _encode(_double_scalar_mult(s, k, point_a)) == r


# SHA-512 (FIPS 180-4) on 64-bit words held as four 16-bit limbs, least significant first.

_K512_HEX = (
    "428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc"
    "3956c25bf348b53859f111f1b605d019923f82a4af194f9bab1c5ed5da6d8118"
    "d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2"
    "72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694"
    "e49b69c19ef14ad2efbe4786384f25e30fc19dc68b8cd5b5240ca1cc77ac9c65"
    "2de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5"
    "983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4"
    "c6e00bf33da88fc2d5a79147930aa72506ca6351e003826f142929670a0e6e70"
    "27b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df"
    "650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353b"
    "a2bfe8a14cf10364a81a664bbc423001c24b8b70d0f89791c76c51a30654be30"
    "d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8"
    "19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8"
    "391c0cb3c5c95a634ed8aa4ae3418acb5b9cca4f7763e373682e6ff3d6b2b8a3"
    "748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec"
    "90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532b"
    "ca273eceea26619cd186b8c721c0c207eada7dd6cde0eb1ef57d4f7fee6ed178"
    "06f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b"
    "28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c"
    "4cc5d4becb3e42b6597f299cfc657e2a5fcb6fab3ad6faec6c44198c4a475817"
)
_H512_HEX = (
    "6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1"
    "510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179"
)


def _load_words(out, raw):
    """Big-endian 8-byte words into out, four 16-bit limbs each, least significant first."""
    j = 0
    for i in range(0, len(raw), 8):
        out[j] = (raw[i + 6] << 8) | raw[i + 7]
        out[j + 1] = (raw[i + 4] << 8) | raw[i + 5]
        out[j + 2] = (raw[i + 2] << 8) | raw[i + 3]
        out[j + 3] = (raw[i] << 8) | raw[i + 1]
        j += 4


_K512 = [0] * 320
_load_words(_K512, binascii.unhexlify(_K512_HEX))
_SCHEDULE = [0] * 320  # the 80 words of one block's message schedule


def _rotr_limb(x, o, n, i):
    """Limb i of the word x[o : o + 4] rotated right by n bits."""
    q = (n >> 4) + i
    s = n & 15
    low = x[o + (q & 3)]
    if not s:
        return low
    high = x[o + ((q + 1) & 3)]
    return (low >> s) | ((high & ((1 << s) - 1)) << (16 - s))


def _shr_limb(x, o, s, i):
    """Limb i of the word x[o : o + 4] shifted right by s < 16 bits."""
    high = x[o + i + 1] if i < 3 else 0
    return (x[o + i] >> s) | ((high & ((1 << s) - 1)) << (16 - s))


def _compress(state, block):
    """One 128-byte block into state (eight 4-limb words), in place."""
    w = _SCHEDULE
    _load_words(w, block)
    for t in range(16, 80):
        o = 4 * t
        carry = 0
        for j in range(4):
            s0 = (
                _rotr_limb(w, o - 60, 1, j)
                ^ _rotr_limb(w, o - 60, 8, j)
                ^ _shr_limb(w, o - 60, 7, j)
            )
            s1 = (
                _rotr_limb(w, o - 8, 19, j)
                ^ _rotr_limb(w, o - 8, 61, j)
                ^ _shr_limb(w, o - 8, 6, j)
            )
            v = w[o - 64 + j] + s0 + w[o - 28 + j] + s1 + carry
            w[o + j] = v & 0xFFFF
            carry = v >> 16
    a, b, c, d, e, f, g, h = [list(word) for word in state]
    for t in range(80):
        o = 4 * t
        carry1 = 0
        carry2 = 0
        for j in range(4):
            s1 = _rotr_limb(e, 0, 14, j) ^ _rotr_limb(e, 0, 18, j) ^ _rotr_limb(e, 0, 41, j)
            choice = (e[j] & f[j]) ^ (~e[j] & g[j])
            v = h[j] + s1 + choice + _K512[o + j] + w[o + j] + carry1
            t1 = v & 0xFFFF
            carry1 = v >> 16
            s0 = _rotr_limb(a, 0, 28, j) ^ _rotr_limb(a, 0, 34, j) ^ _rotr_limb(a, 0, 39, j)
            majority = (a[j] & b[j]) ^ (a[j] & c[j]) ^ (b[j] & c[j])
            # h is free once read: it becomes the new a; d becomes the new e.
            v = t1 + s0 + majority + carry2
            h[j] = v & 0xFFFF
            carry2 = v >> 16
            d[j] += t1  # carried below, after every limb of t1 is known
        carry = 0
        for j in range(4):
            v = d[j] + carry
            d[j] = v & 0xFFFF
            carry = v >> 16
        a, b, c, d, e, f, g, h = h, a, b, c, d, e, f, g
    for word, add in zip(state, (a, b, c, d, e, f, g, h)):
        carry = 0
        for j in range(4):
            v = word[j] + add[j] + carry
            word[j] = v & 0xFFFF
            carry = v >> 16


def sha512(data):
    """SHA-512 of bytes: MicroPython's hashlib has none."""
    data = bytes(data)
    bit_length = len(data) * 8  # a firmware manifest is far below 2**27 bytes
    length_bytes = bytearray(16)
    for i in range(15, 11, -1):
        length_bytes[i] = bit_length & 0xFF
        bit_length >>= 8
    padded = data + b"\x80" + b"\x00" * ((111 - len(data)) % 128) + bytes(length_bytes)
    flat = [0] * 32
    _load_words(flat, binascii.unhexlify(_H512_HEX))
    state = [flat[i : i + 4] for i in range(0, 32, 4)]
    for start in range(0, len(padded), 128):
        _compress(state, padded[start : start + 128])
    out = bytearray()
    for word in state:
        for limb in (word[3], word[2], word[1], word[0]):
            out.append(limb >> 8)
            out.append(limb & 0xFF)
    return bytes(out)
