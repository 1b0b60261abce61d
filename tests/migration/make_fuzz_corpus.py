"""Regenerates the seed corpora of tests/fuzz/fuzz-keyring.c and
fuzz-export.c from real programs:

  /usr/bin/python3 tests/migration/make_fuzz_corpus.py BUILD_DIR

A gnome-keyring-daemon on a private bus writes two keyring files with the
password "fuzz"; cofferd and `coffer export` write an export file with the
password "fuzz" (COFFER_KDF_FAST: minimum Argon2id parameters).  The "bad-*"
seeds are damaged copies and hand-made payloads the readers must reject."""

import hashlib
import os
import shutil
import struct
import sys

import dbus
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

build = os.path.abspath(sys.argv[1])
os.environ.setdefault('COFFERD', os.path.join(build, 'agent', 'cofferd'))
os.environ.setdefault('COFFER', os.path.join(build, 'cli', 'coffer'))
os.environ.setdefault('COFFER_IMPORT_HELPER', os.path.join(build, 'import', 'coffer-import'))
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'service'))
import harness as h  # noqa: E402
import test_migration as t  # noqa: E402

corpus = os.path.join(here, '..', 'fuzz', 'corpus')
kdir = os.path.join(corpus, 'keyring')
edir = os.path.join(corpus, 'export')
os.makedirs(kdir, exist_ok=True)
os.makedirs(edir, exist_ok=True)


def put(directory, name, data):
    with open(os.path.join(directory, name), 'wb') as f:
        f.write(data)


def keyring_plaintext(data, password):
    """The decrypted item section (after the MD5) of a keyring file."""
    off = 16 + 4
    n = struct.unpack('>I', data[off:off + 4])[0]
    off += 4 + (n if n != 0xffffffff else 0) + 16 + 8
    iterations = struct.unpack('>I', data[off:off + 4])[0]
    salt = data[off + 4:off + 12]
    digest = hashlib.sha256(password + salt).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha256(digest).digest()
    # The encrypted part is the tail; its length is the u32 just before it.
    for start in range(len(data) - 16, 0, -16):
        if struct.unpack('>I', data[start - 4:start])[0] == len(data) - start:
            dec = Cipher(algorithms.AES(digest[:16]), modes.CBC(digest[16:32])).decryptor()
            plain = dec.update(data[start:]) + dec.finalize()
            if hashlib.md5(plain[16:]).digest() == plain[:16]:
                return plain[16:]
    raise RuntimeError('cannot decrypt')


# ---- gnome-keyring files -----------------------------------------------------
gk = h.World(peer='gnome-keyring', password='fuzz').start()
try:
    c = gk.connect()
    s = c.open_session()
    c.create_item(h.LOGIN, s, 'Wi-Fi ✓', {'ssid': 'café', 'xdg:schema': 'org.example.Wifi'}, b'p\x00ss')
    c.create_item(h.LOGIN, s, '', {}, b'')
    c.create_item(h.LOGIN, s, 'binary', {'id': '3', 'empty': ''}, bytes(range(256)))
    work = t.gk_create_collection(c, 'Wörk', 'fuzz')
    c.create_item(work, s, 'work item', {'user': 'ü'}, b'secret')
    t.stop_gnome_keyring(gk)
    keyrings = os.path.join(gk.env['XDG_DATA_HOME'], 'keyrings')
    login = open(os.path.join(keyrings, 'login.keyring'), 'rb').read()
    put(kdir, 'login', login)
    shutil.copy(os.path.join(keyrings, 'Wörk.keyring'), os.path.join(kdir, 'work'))
finally:
    gk.stop()

items = keyring_plaintext(login, b'fuzz')
put(kdir, 'items-login', bytes([3]) + items)
put(kdir, 'items-none', bytes([0]))
put(kdir, 'bad-truncated', login[:len(login) // 2])
bad = bytearray(login)
bad[16] = 1
put(kdir, 'bad-version', bytes(bad))
bad = bytearray(login)
bad[-20] ^= 1
put(kdir, 'bad-checksum', bytes(bad))
put(kdir, 'bad-text-format', b'[keyring]\ndisplay-name=login\n')
put(kdir, 'bad-items-count', bytes([4]) + items)
put(kdir, 'bad-items-long-string', bytes([1]) + b'\x7f\xff\xff\xf0' + items[4:])
put(kdir, 'bad-items-padding', bytes([3]) + items + b'\x01')

# ---- coffer export ------------------------------------------------------------
w = h.World(peer='coffer', password='fuzz').start()
try:
    c = w.connect()
    s = c.open_session()
    c.create_item(h.LOGIN, s, 'mail ✉', {'user': 'ü', 'xdg:schema': 'org.example.Mail'}, b'\x00pw', 'text/plain')
    c.create_item(h.LOGIN, s, 'empty', {}, b'', 'application/octet-stream')
    path = os.path.join(w.root, 'export')
    w.coffer('export', path, '--password-stdin', input='fuzz\nfuzz\n')
    data = open(path, 'rb').read()
    put(edir, 'vault', data)
    put(edir, 'bad-truncated', data[:len(data) - 1])
    bad = bytearray(data)
    bad[40] ^= 1
    put(edir, 'bad-nonce', bytes(bad))
    bad = bytearray(data)
    bad[12:16] = b'\xff\xff\xff\xff'
    put(edir, 'bad-opslimit', bytes(bad))
finally:
    w.stop()


def s_(text):
    b = text.encode('utf-8')
    return struct.pack('>I', len(b)) + b


def payload(collections, items, tail=b''):
    out = struct.pack('>QI', 1700000000, len(collections))
    for label, flags, aliases in collections:
        out += s_(label) + bytes([flags]) + struct.pack('>QQI', 1, 2, len(aliases)) + b''.join(map(s_, aliases))
    out += struct.pack('>I', len(items))
    for index, label, attrs, secret in items:
        out += struct.pack('>I', index) + s_(label) + s_('text/plain') + struct.pack('>QQI', 3, 4, len(attrs))
        out += b''.join(s_(k) + s_(v) for k, v in attrs)
        out += struct.pack('>I', len(secret)) + secret
    return out + tail


good_collections = [('Login', 1, ['default']), ('Wörk', 0, ['work'])]
good_items = [(0, 'a', [('k', 'v')], b'\x00\x01'), (1, 'b ✓', [], b'')]
put(edir, 'payload', payload(good_collections, good_items))
put(edir, 'payload-empty', payload([], []))
put(edir, 'bad-payload-index', payload(good_collections, [(2, 'a', [], b'')]))
put(edir, 'bad-payload-two-logins', payload([('a', 1, []), ('b', 1, [])], []))
put(edir, 'bad-payload-flags', payload([('a', 2, [])], []))
put(edir, 'bad-payload-duplicate-attribute', payload(good_collections, [(0, 'a', [('k', '1'), ('k', '2')], b'')]))
put(edir, 'bad-payload-trailing', payload(good_collections, good_items, b'\0'))
put(edir, 'bad-payload-utf8', payload(good_collections, good_items).replace(b'b \xe2\x9c\x93', b'b \xff\x9c\x93'))
put(edir, 'bad-payload-secret-length', payload(good_collections, good_items)[:-4] + b'\xff\xff\xff\xff')
print('corpus written to', corpus)
