"""Functional-test harness for coffer's Secret Service.

Every TestCase class owns one *world*: a temporary HOME with its own XDG
directories, a private dbus-daemon and the daemon under test.  Nothing is
shared between worlds, so meson can run the test modules in parallel.

The daemon under test is chosen by COFFER_TEST_PEER:
  coffer (default)  $COFFERD + $COFFER (absolute paths, passed by meson)
  gnome-keyring     gnome-keyring-daemon, used to validate the tests
                    themselves where its behaviour matches the spec.

Clients talk to the daemon with dbus-python (explicit signatures, so tests
can send exactly the wire types they mean, malformed ones included).
"""

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import dbus
import dbus.bus
import dbus.mainloop.glib
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from gi.repository import GLib

PEER = os.environ.get('COFFER_TEST_PEER', 'coffer')
IS_COFFER = PEER == 'coffer'

BUS_NAME = 'org.freedesktop.secrets'
SS_PATH = '/org/freedesktop/secrets'
PFX = 'org.freedesktop.Secret.'
SERVICE_IFACE = PFX + 'Service'
COLLECTION_IFACE = PFX + 'Collection'
ITEM_IFACE = PFX + 'Item'
SESSION_IFACE = PFX + 'Session'
PROMPT_IFACE = PFX + 'Prompt'
PROPS_IFACE = 'org.freedesktop.DBus.Properties'
LOGIN = SS_PATH + '/collection/login'
SESSION_COLL = SS_PATH + '/collection/session'
DEFAULT_ALIAS = SS_PATH + '/aliases/default'

ERR_NO_SESSION = PFX + 'Error.NoSession'
ERR_IS_LOCKED = PFX + 'Error.IsLocked'
ERR_NO_SUCH_OBJECT = PFX + 'Error.NoSuchObject'
ERR_NOT_SUPPORTED = 'org.freedesktop.DBus.Error.NotSupported'
ERR_INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'

ALGO_PLAIN = 'plain'
ALGO_DH = 'dh-ietf1024-sha256-aes128-cbc-pkcs7'

PASSWORD = 'correct horse battery staple'
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

# RFC 2409 section 6.2, the second Oakley group (1024-bit MODP).
DH_PRIME = int(
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1'
    '29024E088A67CC74020BBEA63B139B22514A08798E3404DD'
    'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245'
    'E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED'
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381'
    'FFFFFFFFFFFFFFFF', 16)
DH_GENERATOR = 2

_MAINLOOP = dbus.mainloop.glib.DBusGMainLoop(set_as_default=False)


def coffer_only(reason='coffer-specific behaviour'):
    """Skip a test (or class) unless the peer is coffer."""
    return unittest.skipUnless(IS_COFFER, reason)


class DBusCallError(Exception):
    """A D-Bus error reply, with its error name kept for assertions."""

    def __init__(self, name, message):
        super().__init__('%s: %s' % (name, message))
        self.name = name
        self.message = message


def pump(seconds=0.0, until=None):
    """Run the default GLib main context (where dbus-python delivers
    signals) for up to `seconds`, or until `until()` is true."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + seconds
    while True:
        while ctx.pending():
            ctx.iteration(False)
        if until is not None and until():
            return True
        if time.monotonic() >= deadline:
            return until is None
        time.sleep(0.005)


# --------------------------------------------------------------- sessions
class Session:
    """Client half of a Secret Service transfer session."""

    def __init__(self, path, algorithm, aes_key=None):
        self.path = path
        self.algorithm = algorithm
        self.aes_key = aes_key

    def encode(self, secret, content_type='text/plain', iv=None):
        """Build the (oayays) Secret struct for `secret` (bytes)."""
        if self.aes_key is None:
            return dbus.Struct((dbus.ObjectPath(self.path), dbus.ByteArray(b''),
                                dbus.ByteArray(secret), dbus.String(content_type)),
                               signature='oayays')
        iv = os.urandom(16) if iv is None else iv
        padder = padding.PKCS7(128).padder()
        data = padder.update(secret) + padder.finalize()
        enc = Cipher(algorithms.AES(self.aes_key), modes.CBC(iv),
                     default_backend()).encryptor()
        ct = enc.update(data) + enc.finalize()
        return dbus.Struct((dbus.ObjectPath(self.path), dbus.ByteArray(iv),
                            dbus.ByteArray(ct), dbus.String(content_type)),
                           signature='oayays')

    def raw_struct(self, params, value, content_type='text/plain'):
        """A Secret struct with caller-chosen parameters and value bytes,
        for malformed-input tests."""
        return dbus.Struct((dbus.ObjectPath(self.path), dbus.ByteArray(params),
                            dbus.ByteArray(value), dbus.String(content_type)),
                           signature='oayays')

    def decode(self, struct):
        """Return (secret bytes, content type) from a Secret struct."""
        path, params, value, content_type = struct
        if str(path) != self.path:
            raise AssertionError('secret for session %s, expected %s'
                                 % (path, self.path))
        params, value = bytes(params), bytes(value)
        if self.aes_key is None:
            if params:
                raise AssertionError('plain session sent parameters')
            return value, str(content_type)
        if len(params) != 16:
            raise AssertionError('IV of %d bytes' % len(params))
        dec = Cipher(algorithms.AES(self.aes_key), modes.CBC(params),
                     default_backend()).decryptor()
        data = dec.update(value) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(data) + unpadder.finalize(), str(content_type)


def dh_keypair():
    private = int.from_bytes(os.urandom(128), 'big') % (DH_PRIME - 3) + 2
    public = pow(DH_GENERATOR, private, DH_PRIME)
    return private, public.to_bytes(128, 'big')


def dh_aes_key(private, server_public):
    shared = pow(int.from_bytes(server_public, 'big'), private, DH_PRIME)
    return HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=b'',
                backend=default_backend()).derive(shared.to_bytes(128, 'big'))


# ----------------------------------------------------------------- client
class Client:
    """One connection to a world's bus, with Secret Service helpers."""

    def __init__(self, address):
        self.bus = dbus.bus.BusConnection(address, mainloop=_MAINLOOP)

    def close(self):
        self.bus.close()

    @property
    def unique_name(self):
        return self.bus.get_unique_name()

    def call(self, path, iface, method, sig='', *args, timeout=60):
        try:
            return self.bus.call_blocking(BUS_NAME, path, iface, method, sig,
                                          args, timeout=timeout,
                                          byte_arrays=True)
        except dbus.exceptions.DBusException as e:
            raise DBusCallError(e.get_dbus_name(), e.get_dbus_message()) from None

    def service(self, method, sig='', *args, **kw):
        return self.call(SS_PATH, SERVICE_IFACE, method, sig, *args, **kw)

    def get_prop(self, path, iface, name):
        return self.call(path, PROPS_IFACE, 'Get', 'ss', iface, name)

    def get_all(self, path, iface):
        return self.call(path, PROPS_IFACE, 'GetAll', 's', iface)

    def set_prop(self, path, iface, name, value):
        return self.call(path, PROPS_IFACE, 'Set', 'ssv', iface, name, value)

    def ping(self):
        """True if the daemon answers a real Secret Service call."""
        try:
            self.get_prop(SS_PATH, SERVICE_IFACE, 'Collections')
            return True
        except DBusCallError:
            return False

    # sessions
    def open_session(self, algorithm=ALGO_DH):
        if algorithm == ALGO_PLAIN:
            _, path = self.service('OpenSession', 'sv', ALGO_PLAIN,
                                   dbus.String('', variant_level=1))
            return Session(str(path), ALGO_PLAIN)
        private, public = dh_keypair()
        output, path = self.service('OpenSession', 'sv', ALGO_DH,
                                    dbus.ByteArray(public, variant_level=1))
        return Session(str(path), ALGO_DH, dh_aes_key(private, bytes(output)))

    # items
    @staticmethod
    def item_props(label, attributes, extra=None):
        props = {
            PFX + 'Item.Label': dbus.String(label, variant_level=1),
            PFX + 'Item.Attributes': dbus.Dictionary(attributes, signature='ss',
                                                     variant_level=1),
        }
        props.update(extra or {})
        return dbus.Dictionary(props, signature='sv')

    def create_item(self, collection, session, label, attributes, secret,
                    content_type='text/plain', replace=False):
        if isinstance(secret, str):
            secret = secret.encode('utf-8')
        item, prompt = self.call(collection, COLLECTION_IFACE, 'CreateItem',
                                 'a{sv}(oayays)b',
                                 self.item_props(label, attributes),
                                 session.encode(secret, content_type), replace)
        if prompt != '/':
            raise AssertionError('CreateItem returned prompt %s' % prompt)
        return str(item)

    def get_secret(self, item, session):
        return session.decode(self.call(item, ITEM_IFACE, 'GetSecret', 'o',
                                        dbus.ObjectPath(session.path)))

    def set_secret(self, item, session, secret, content_type='text/plain'):
        self.call(item, ITEM_IFACE, 'SetSecret', '(oayays)',
                  session.encode(secret, content_type))

    def search(self, attributes):
        unlocked, locked = self.service('SearchItems', 'a{ss}',
                                        dbus.Dictionary(attributes, signature='ss'))
        return sorted(map(str, unlocked)), sorted(map(str, locked))

    def collection_items(self, collection):
        return sorted(map(str, self.get_prop(collection, COLLECTION_IFACE, 'Items')))

    def delete(self, path, iface=ITEM_IFACE):
        prompt = self.call(path, iface, 'Delete')
        if prompt != '/':
            raise AssertionError('Delete returned prompt %s' % prompt)

    def lock(self, paths):
        locked, prompt = self.service('Lock', 'ao', [dbus.ObjectPath(p) for p in paths])
        return sorted(map(str, locked)), str(prompt)

    def unlock(self, paths):
        unlocked, prompt = self.service('Unlock', 'ao',
                                        [dbus.ObjectPath(p) for p in paths])
        return sorted(map(str, unlocked)), str(prompt)

    def signals(self, **match):
        return SignalRecorder(self, **match)


class SignalRecorder:
    """Collects signals matching a rule while the `with` block runs
    (and afterwards, until closed); wait_for() pumps the main loop."""

    def __init__(self, client, interface=None, member=None, path=None):
        self.client = client
        self.received = []
        self._match = self.client.bus.add_signal_receiver(
            self._on_signal, signal_name=member, dbus_interface=interface,
            path=path, path_keyword='path', member_keyword='member',
            interface_keyword='interface', byte_arrays=True)

    def _on_signal(self, *args, path=None, member=None, interface=None):
        self.received.append((str(interface), str(member), str(path), args))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._match.remove()
        return False

    def matching(self, member=None, path=None, interface=None):
        return [s for s in self.received
                if (member is None or s[1] == member)
                and (path is None or s[2] == path)
                and (interface is None or s[0] == interface)]

    def wait_for(self, member=None, path=None, interface=None, count=1,
                 where=None, timeout=5.0):
        """Wait until `count` matching signals (whose args satisfy
        `where`, if given) arrived; return them (may be fewer on timeout)."""
        def found():
            hits = self.matching(member, path, interface)
            if where is not None:
                hits = [h for h in hits if where(h[3])]
            return hits
        pump(timeout, until=lambda: len(found()) >= count)
        return found()


# ------------------------------------------------------------------ world
def _bus_config(root):
    """A minimal session-bus config: no service directories, so nothing is
    ever activated behind the test's back."""
    return ('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus '
            'Configuration 1.0//EN" "http://www.freedesktop.org/standards/'
            'dbus/1.0/busconfig.dtd">\n<busconfig>\n  <type>session</type>\n'
            '  <listen>unix:dir=%s</listen>\n  <auth>EXTERNAL</auth>\n'
            '  <policy context="default">\n    <allow send_destination="*" '
            'eavesdrop="true"/>\n    <allow eavesdrop="true"/>\n'
            '    <allow own="*"/>\n  </policy>\n'
            '  <limit name="max_message_size">134217728</limit>\n'
            '  <limit name="max_incoming_bytes">268435456</limit>\n'
            '  <limit name="max_outgoing_bytes">268435456</limit>\n'
            '  <limit name="reply_timeout">300000</limit>\n'
            '</busconfig>\n' % root)


def _stop_process(proc, timeout=STOP_TIMEOUT):
    """Stops proc with TERM (KILL after timeout); returns its exit status."""
    if proc is None:
        return None
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode


class World:
    """A private HOME + bus + daemon under test."""

    def __init__(self, peer=PEER, password=PASSWORD):
        self.peer = peer
        self.password = password
        self.root = None
        self.bus_proc = None
        self.daemon = None
        self.address = None
        self.env = None
        self._clients = []
        self._daemon_log = None

    # lifecycle
    def start(self):
        self.root = tempfile.mkdtemp(prefix='coffer-svc-')
        try:
            self._make_tree()
            self._start_bus()
            self.start_daemon()
            if self.peer == 'coffer':
                self.coffer('init', '--password-stdin',
                            input=self.password + '\n')
        except BaseException:
            self.stop()
            raise
        return self

    def _make_tree(self):
        home = os.path.join(self.root, 'home')
        dirs = {'HOME': home,
                'XDG_DATA_HOME': os.path.join(home, '.local', 'share'),
                'XDG_CONFIG_HOME': os.path.join(home, '.config'),
                'XDG_CACHE_HOME': os.path.join(home, '.cache'),
                'XDG_RUNTIME_DIR': os.path.join(self.root, 'run')}
        for d in dirs.values():
            os.makedirs(d, mode=0o700, exist_ok=True)
            os.chmod(d, 0o700)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('DBUS_', 'GNOME_KEYRING', 'XDG_', 'SSH_AUTH'))}
        env.pop('DISPLAY', None)
        env.pop('WAYLAND_DISPLAY', None)
        env.update(dirs)
        env['COFFER_KDF_FAST'] = '1'
        env['NO_AT_BRIDGE'] = '1'
        env['GSETTINGS_BACKEND'] = 'memory'
        self.env = env

    def _start_bus(self):
        busdir = os.path.join(self.root, 'bus')
        os.mkdir(busdir, 0o700)
        cfg = os.path.join(self.root, 'bus.conf')
        with open(cfg, 'w') as f:
            f.write(_bus_config(busdir))
        rfd, wfd = os.pipe()
        try:
            self.bus_proc = subprocess.Popen(
                ['dbus-daemon', '--config-file=' + cfg, '--nofork',
                 '--print-address=%d' % wfd],
                pass_fds=(wfd,), env=self.env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.close(wfd)
            wfd = -1
            ready, _, _ = select.select([rfd], [], [], START_TIMEOUT)
            if not ready:
                raise RuntimeError('dbus-daemon printed no address')
            line = os.read(rfd, 4096).decode().strip()
        finally:
            os.close(rfd)
            if wfd >= 0:
                os.close(wfd)
        if not line:
            raise RuntimeError('dbus-daemon exited: %r' % self.bus_proc.poll())
        self.address = line.splitlines()[0]
        self.env['DBUS_SESSION_BUS_ADDRESS'] = self.address

    def start_daemon(self):
        log_path = os.path.join(self.root, 'daemon.log')
        self._daemon_log = open(log_path, 'ab')
        if self.peer == 'coffer':
            self.daemon = subprocess.Popen(
                [os.environ['COFFERD']], env=self.env, stdin=subprocess.DEVNULL,
                stdout=self._daemon_log, stderr=subprocess.STDOUT)
        elif self.peer == 'gnome-keyring':
            self.daemon = subprocess.Popen(
                ['gnome-keyring-daemon', '--foreground',
                 '--components=secrets', '--unlock'],
                env=self.env, stdin=subprocess.PIPE,
                stdout=self._daemon_log, stderr=subprocess.STDOUT)
            self.daemon.stdin.write(self.password.encode())
            self.daemon.stdin.close()
        else:
            raise RuntimeError('unknown COFFER_TEST_PEER %r' % self.peer)
        self._wait_for_name()
        if self.peer == 'gnome-keyring':
            self._wait_for_login()

    def _wait_for_login(self):
        # gnome-keyring creates the login keyring after taking the name.
        c = Client(self.address)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while (c.service('ReadAlias', 's', 'default') == '/'
                   and time.monotonic() < deadline):
                time.sleep(0.02)
        finally:
            c.close()

    def _wait_for_name(self, control_socket=None):
        """Waits for the daemon's bus name (and, for cofferd, its control socket)."""
        if control_socket is None:
            control_socket = self.peer == 'coffer'
        probe = dbus.bus.BusConnection(self.address)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.daemon.poll() is not None:
                    raise RuntimeError('daemon exited with %s:\n%s'
                                       % (self.daemon.returncode, self.daemon_log()))
                # cofferd takes its control socket right after the name.
                if probe.name_has_owner(BUS_NAME) and (not control_socket or os.path.exists(
                        os.path.join(self.env['XDG_RUNTIME_DIR'], 'coffer', 'control'))):
                    return
                time.sleep(0.02)
            raise RuntimeError('%s not owned after %ss:\n%s'
                               % (BUS_NAME, START_TIMEOUT, self.daemon_log()))
        finally:
            probe.close()

    def stop_daemon(self):
        for c in self._clients:
            c.close()
        self._clients = []
        status = _stop_process(self.daemon)
        self.daemon = None
        if self._daemon_log:
            self._daemon_log.close()
            self._daemon_log = None
        # cofferd exits 0 on TERM; anything else (a sanitizer report, a crash,
        # a hang that needed KILL) is a failure of the test that ran it.
        if IS_COFFER and status not in (None, 0):
            raise AssertionError('cofferd exited with status %s; its log:\n%s'
                                 % (status, self.daemon_log()))

    def restart_daemon(self):
        self.stop_daemon()
        # The old owner must be gone before the new one can take the name.
        probe = dbus.bus.BusConnection(self.address)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while probe.name_has_owner(BUS_NAME) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            probe.close()
        self.start_daemon()

    def stop(self):
        try:
            self.stop_daemon()
        finally:
            _stop_process(self.bus_proc)
            self.bus_proc = None
            if self.root and not os.environ.get('COFFER_TEST_KEEP'):
                shutil.rmtree(self.root, ignore_errors=True)

    def daemon_log(self):
        try:
            with open(os.path.join(self.root, 'daemon.log'), 'rb') as f:
                return f.read()[-4000:].decode(errors='replace')
        except OSError:
            return ''

    # clients and control
    def connect(self):
        client = Client(self.address)
        self._clients.append(client)
        return client

    def run(self, argv, input=None, check=False, timeout=60, extra_env=None):
        env = dict(self.env, **(extra_env or {}))
        return subprocess.run(argv, env=env, input=input, text=True,
                              capture_output=True, check=check, timeout=timeout)

    def coffer(self, *args, input=None, check=True):
        result = self.run([os.environ['COFFER']] + list(args), input=input)
        if check and result.returncode != 0:
            raise RuntimeError('coffer %s failed (%d): %s%s'
                               % (' '.join(args), result.returncode,
                                  result.stdout, result.stderr))
        return result

    def alive(self):
        """The daemon process runs and still answers on the bus."""
        if self.daemon is None or self.daemon.poll() is not None:
            return False
        c = Client(self.address)
        try:
            return c.ping()
        finally:
            c.close()

    def lock_vault(self):
        if self.peer == 'coffer':
            self.coffer('lock')
        else:
            c = self.connect()
            c.lock([LOGIN])

    def unlock_vault(self, password=None):
        """Unlock out of band (no prompt)."""
        password = self.password if password is None else password
        if self.peer == 'coffer':
            return self.coffer('unlock', '--password-stdin',
                               input=password + '\n', check=False)
        c = self.connect()
        s = c.open_session(ALGO_PLAIN)
        c.call(SS_PATH, 'org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface',
               'UnlockWithMasterPassword', 'o(oayays)', dbus.ObjectPath(LOGIN),
               s.encode(password.encode()))
        return subprocess.CompletedProcess([], 0, '', '')


class ServiceTestCase(unittest.TestCase):
    """Base class: one world per TestCase class, a connected client, and a
    check after every test that the daemon is still alive."""

    world = None
    client = None

    @classmethod
    def setUpClass(cls):
        cls.world = World().start()
        cls.client = cls.world.connect()

    @classmethod
    def tearDownClass(cls):
        if cls.world is not None:
            daemon = cls.world.daemon
            if daemon is not None and daemon.poll() is not None:
                import sys
                sys.stderr.write('daemon exited (%s) during %s; its log:\n%s\n'
                                 % (daemon.returncode, cls.__name__, cls.world.daemon_log()))
            cls.world.stop()
            cls.world = None

    def assertDBusError(self, names, fn, *args, **kw):
        """fn(*args) must fail with one of the D-Bus error `names`."""
        if isinstance(names, str):
            names = (names,)
        with self.assertRaises(DBusCallError) as cm:
            fn(*args, **kw)
        self.assertIn(cm.exception.name, names, cm.exception.message)
        return cm.exception

    def assertAlive(self):
        self.assertTrue(self.world.alive(),
                        'daemon died or stopped answering:\n' + self.world.daemon_log())

    def new_session(self, algorithm=ALGO_DH):
        return self.client.open_session(algorithm)

    def unique(self, prefix='t'):
        """A value unique within the world, for attribute isolation."""
        ServiceTestCase._counter = getattr(ServiceTestCase, '_counter', 0) + 1
        return '%s-%d-%s' % (prefix, ServiceTestCase._counter, self.id().rsplit('.', 1)[-1])


def main():
    unittest.main(verbosity=2)
