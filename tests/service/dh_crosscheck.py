#!/usr/bin/python3
"""Cross-check coffer's Secret Service transport against an independent
implementation: Python integers for the Diffie-Hellman, python3-cryptography
for HKDF-SHA256, AES-128-CBC and PKCS#7.

Usage: dh_crosscheck.py <path to transport-tool>

The tool (tests/unit/transport-tool.c) runs agent/transport behind a line
protocol.  We play the client: make key pairs, derive the session key on our
own, read what the agent encrypts and have it read what we encrypt.  Sessions
are repeated until both leading-zero cases have been seen (a client public
value shorter than 128 bytes, and a shared secret whose top byte is zero),
since those are where encodings of the two sides drift apart.

Exit 0 on success, 1 on a mismatch, 77 (skip) without python3-cryptography.
"""
import secrets
import subprocess
import sys

try:
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError:
    print("SKIP: python3-cryptography is not installed")
    sys.exit(77)

DH = "dh-ietf1024-sha256-aes128-cbc-pkcs7"
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
NOT_SUPPORTED = "org.freedesktop.DBus.Error.NotSupported"

# RFC 2409 section 6.2, as printed there.
P = int("""
    FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
    29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
    EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
    E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
    EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE65381
    FFFFFFFF FFFFFFFF""".replace(" ", "").replace("\n", ""), 16)
G = 2
MAX_SESSIONS = 5000  # P(no leading-zero shared secret in 5000) ~ e^-19.5


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


def hexs(data):
    return data.hex() if data else "-"


def unhex(text):
    return b"" if text == "-" else bytes.fromhex(text)


def minimal_bytes(n):
    """Big-endian without leading zeros, as many clients send it."""
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class Tool:
    def __init__(self, path):
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def ask(self, *words):
        self.proc.stdin.write(" ".join(words) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        check(reply, "transport-tool died")
        return reply.split(" ", 2) if reply.startswith("error ") else reply.split()

    def expect_ok(self, *words):
        reply = self.ask(*words)
        check(reply[0] == "ok", f"{words[0]} failed: {' '.join(reply).strip()}")
        return reply[1:]

    def expect_error(self, name, message, *words):
        reply = self.ask(*words)
        check(reply[0] == "error", f"{words[0]} should have failed")
        check(reply[1] == name, f"error {reply[1]}, expected {name}")
        if message is not None:
            check(reply[2].strip() == message, f"message {reply[2].strip()!r}, expected {message!r}")

    def close(self):
        self.proc.stdin.close()
        check(self.proc.wait(timeout=30) == 0, "transport-tool exited with an error")


def session_key(shared):
    """HKDF-SHA256 over the 128-byte left-padded secret, empty salt and info."""
    ikm = shared.to_bytes(128, "big")
    return HKDF(algorithm=hashes.SHA256(), length=16, salt=b"", info=b"").derive(ikm)


def aes_cbc(key, iv, data, encrypt):
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


def pkcs7_pad(data):
    padder = padding.PKCS7(128).padder()
    return padder.update(data) + padder.finalize()


def pkcs7_unpad(data):
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(data) + unpadder.finalize()
    except ValueError as error:  # a wrong key shows up here first
        raise Failure(f"agent's ciphertext does not decrypt to valid padding: {error}")


def new_client(leading_zero=False):
    while True:
        x = secrets.randbelow(P - 3) + 2
        y = pow(G, x, P)
        if not leading_zero or y < 1 << (8 * 127):
            return x, y


def open_session(tool, x, y, wire):
    """Negotiates with our public value y sent as `wire`; returns the key."""
    (output,) = tool.expect_ok("open", DH, hexs(wire))
    server_public = unhex(output)
    check(len(server_public) == 128, f"server public value is {len(server_public)} bytes")
    Y = int.from_bytes(server_public, "big")
    check(1 < Y < P - 1, "server public value out of range")
    shared = pow(Y, x, P)
    return session_key(shared), shared, Y


def round_trips(tool, key, sizes):
    for size in sizes:
        secret = secrets.token_bytes(size)
        # agent -> us
        iv, value = (unhex(w) for w in tool.expect_ok("enc", hexs(secret)))
        check(len(iv) == 16, "IV is not 16 bytes")
        check(len(value) == (size // 16 + 1) * 16, "ciphertext length is not the padded length")
        check(pkcs7_unpad(aes_cbc(key, iv, value, False)) == secret,
              f"our decryption of a {size}-byte secret differs")
        # us -> agent
        iv = secrets.token_bytes(16)
        value = aes_cbc(key, iv, pkcs7_pad(secret), True)
        (plain,) = tool.expect_ok("dec", hexs(iv), hexs(value))
        check(unhex(plain) == secret, f"agent's decryption of a {size}-byte secret differs")


def check_sessions(tool):
    """Many sessions, until both leading-zero cases have been exercised."""
    seen_short_client, seen_short_shared, sessions = False, False, 0
    while not (seen_short_client and seen_short_shared and sessions >= 20):
        check(sessions < MAX_SESSIONS, "no leading-zero shared secret came up")
        x, y = new_client(leading_zero=not seen_short_client)
        wire = minimal_bytes(y) if sessions % 2 == 0 else y.to_bytes(128, "big")
        key, shared, _ = open_session(tool, x, y, wire)
        short_client = len(wire) < 128
        short_shared = shared < 1 << (8 * 127)
        if short_client or short_shared or sessions < 20:
            round_trips(tool, key, [0, 1, 15, 16, 17, 100, 1000])
        else:
            round_trips(tool, key, [secrets.randbelow(64)])
        seen_short_client |= short_client
        seen_short_shared |= short_shared
        sessions += 1
    print(f"ok: {sessions} dh sessions, including a short client key and a short shared secret")


def check_public_value_validation(tool):
    bad = {
        "empty": b"",
        "0": b"\x00",
        "1": b"\x01",
        "1 padded": (1).to_bytes(128, "big"),
        "p-1": (P - 1).to_bytes(128, "big"),
        "p": P.to_bytes(128, "big"),
        "p+1": (P + 1).to_bytes(128, "big"),
        "2^1024-1": b"\xff" * 128,
        "129 bytes": b"\x00" + pow(G, 12345, P).to_bytes(128, "big"),
    }
    for name, wire in bad.items():
        try:
            tool.expect_error(INVALID_ARGS, "Invalid DH public key", "open", DH, hexs(wire))
        except Failure as failure:
            raise Failure(f"public value {name}: {failure}")
    for value in (2, P - 2):  # the boundaries that are allowed
        tool.expect_ok("open", DH, hexs(minimal_bytes(value)))
    tool.expect_error(NOT_SUPPORTED, "Algorithm dh-ietf1024-sha1-aes128-cbc-pkcs7 is not supported",
                      "open", "dh-ietf1024-sha1-aes128-cbc-pkcs7", "02")
    print("ok: public value validation")


def check_decrypt_validation(tool):
    x, y = new_client()
    key, _, _ = open_session(tool, x, y, minimal_bytes(y))
    iv = secrets.token_bytes(16)
    good = aes_cbc(key, iv, pkcs7_pad(b"secret"), True)
    for bad_iv in (b"", iv[:15], iv + b"\x00"):
        tool.expect_error(INVALID_ARGS, "Invalid secret parameters", "dec", hexs(bad_iv), hexs(good))
    for bad_value in (b"", good[:15], good + b"\x00"):
        tool.expect_error(INVALID_ARGS, None, "dec", hexs(iv), hexs(bad_value))

    def padded_block(tail):
        return b"A" * (16 - len(tail)) + tail

    for name, block in {
        "pad byte 0": padded_block(b"\x00"),
        "pad byte 17": padded_block(b"\x11"),
        "inconsistent": padded_block(b"\x04\x03\x04\x04"),
        "16 with one wrong": padded_block(b"\x0f" + b"\x10" * 15),
    }.items():
        value = aes_cbc(key, iv, block, True)
        try:
            tool.expect_error(INVALID_ARGS, "Invalid secret padding", "dec", hexs(iv), hexs(value))
        except Failure as failure:
            raise Failure(f"padding {name}: {failure}")
    # a whole block of padding is an empty secret
    (plain,) = tool.expect_ok("dec", hexs(iv), hexs(aes_cbc(key, iv, b"\x10" * 16, True)))
    check(plain == "-", "a block of padding should decrypt to an empty secret")
    print("ok: decrypt validation")


def check_plain(tool):
    check(tool.expect_ok("open", "plain", "-") == ["-"], "plain output is not the empty string")
    check(tool.expect_ok("enc", "736563726574") == ["-", "736563726574"], "plain encrypt changed data")
    check(tool.expect_ok("dec", "-", "736563726574") == ["736563726574"], "plain decrypt changed data")
    tool.expect_error(INVALID_ARGS, "Invalid secret parameters", "dec", "00", "736563726574")
    print("ok: plain")


def main():
    if len(sys.argv) != 2:
        print("usage: dh_crosscheck.py <path to transport-tool>", file=sys.stderr)
        return 2
    tool = Tool(sys.argv[1])
    try:
        check_sessions(tool)
        check_public_value_validation(tool)
        check_decrypt_validation(tool)
        check_plain(tool)
        tool.close()
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    finally:
        if tool.proc.poll() is None:
            tool.proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
