"""Moving in from another keyring: `coffer import` and `coffer export`.

ServiceImportTests  a real gnome-keyring-daemon on a private bus, filled with
                    500 items through its Secret Service API, imported with
                    --from-running-service; then cofferd serves the same store
                    and every item is compared byte for byte over D-Bus.
KeyringFileTests    the .keyring files that gnome-keyring-daemon wrote in the
                    test, read directly (wrong password, damaged files).
ExportTests         coffer export -> coffer import into a fresh vault.

Each class owns its worlds (harness.py): nothing is shared, so meson runs the
groups in parallel.
"""

import os
import shutil
import sys
import tempfile
import time
import unittest

import dbus

import harness as h

VAULT_PASSWORD = 'coffer vault pw ✓'
WORK_PASSWORD = 'work keyring pw'
COFFER = os.environ['COFFER']
CONTENT_TYPES = ['text/plain', 'application/octet-stream', 'application/json; charset=utf-8']


def secret_for(i):
    """Binary, text, empty, larger and one big secret."""
    kind = i % 5
    if i == 7:
        return os.urandom(100 * 1024)
    if kind == 0:
        return b'\x00' + os.urandom(1 + i % 200) + b'\x00'
    if kind == 1:
        return ('pässwörd %d ✓ 🔐' % i).encode('utf-8')
    if kind == 2:
        return b''
    if kind == 3:
        return os.urandom(4096)
    return bytes(range(256))


def attributes_for(tag, i):
    attrs = {'id': '%s-%d' % (tag, i), 'service': 'srv-%d.exämple.org' % (i % 7), 'user': 'ü%d 用户' % i}
    if i % 3 == 0:
        attrs['xdg:schema'] = 'org.example.Migration'
    if i % 4 == 0:
        attrs['note'] = ''
    return attrs


def fill(client, session, collection, tag, count):
    for i in range(count):
        client.create_item(collection, session, '%s item %d — ünïcødé 🔑 %d' % (tag, i, i),
                           attributes_for(tag, i), secret_for(i), CONTENT_TYPES[i % 3])


def gk_create_collection(client, label, password):
    """A gnome-keyring collection with its own password, without a prompt."""
    plain = client.open_session(h.ALGO_PLAIN)
    props = dbus.Dictionary({h.PFX + 'Collection.Label': dbus.String(label, variant_level=1)}, signature='sv')
    return str(client.call(h.SS_PATH, 'org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface',
                           'CreateWithMasterPassword', 'a{sv}(oayays)', props,
                           plain.encode(password.encode())))


def snapshot(client):
    """Everything a client can see: {collection: {id: (label, attributes,
    secret, content type, created, modified)}}, the default collection
    under the key 'default', the others under their label."""
    session = client.open_session()
    default = str(client.service('ReadAlias', 's', 'default'))
    result = {}
    for path in map(str, client.get_prop(h.SS_PATH, h.SERVICE_IFACE, 'Collections')):
        if path.endswith('/collection/session'):
            continue
        props = client.get_all(path, h.COLLECTION_IFACE)
        key = 'default' if path == default else str(props['Label'])
        items = {}
        for item in map(str, props['Items']):
            p = client.get_all(item, h.ITEM_IFACE)
            attrs = {str(k): str(v) for k, v in p['Attributes'].items()}
            secret, ctype = client.get_secret(item, session)
            items[attrs.get('id', item)] = (str(p['Label']), attrs, bytes(secret), ctype,
                                            int(p['Created']), int(p['Modified']))
        result[key] = items
    return result


def bare_world():
    """A world with its bus and XDG tree but no daemon yet."""
    w = h.World(peer='coffer')
    w.root = tempfile.mkdtemp(prefix='coffer-mig-')
    w._make_tree()
    w._start_bus()
    return w


def wait_name_released(world):
    probe = dbus.bus.BusConnection(world.address)
    try:
        deadline = time.monotonic() + h.START_TIMEOUT
        while probe.name_has_owner(h.BUS_NAME) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        probe.close()


def stop_gnome_keyring(world):
    for c in world._clients:
        c.close()
    world._clients = []
    h._stop_process(world.daemon)
    world.daemon = None
    wait_name_released(world)


def gk_restart(world, passwords):
    """Restarts gnome-keyring on its files, so what it serves is what it
    reads back from disk (it adds xdg:schema to items stored without one, for
    instance), and unlocks the collections {path: password}."""
    stop_gnome_keyring(world)
    world.start_daemon()
    client = world.connect()
    plain = client.open_session(h.ALGO_PLAIN)
    for path, password in passwords.items():
        client.call(h.SS_PATH, 'org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface',
                    'UnlockWithMasterPassword', 'o(oayays)', dbus.ObjectPath(path),
                    plain.encode(password.encode()))
    return client


def start_cofferd(world):
    world.peer = 'coffer'
    world.start_daemon()
    world.coffer('unlock', '--password-stdin', input=VAULT_PASSWORD + '\n')


def store_path(world):
    return os.path.join(world.env['XDG_DATA_HOME'], 'coffer', 'vault.db')


class MigrationCase(unittest.TestCase):
    def coffer_cmd(self, world, *args, input=None):
        return world.run([COFFER] + list(args), input=input, timeout=120)

    def assertSnapshotsEqual(self, expected, actual):
        self.assertEqual(sorted(expected), sorted(actual))
        for collection, items in expected.items():
            self.assertEqual(sorted(items), sorted(actual[collection]), collection)
            for key, want in items.items():
                got = actual[collection][key]
                for field, a, b in zip(('label', 'attributes', 'secret', 'content type', 'created', 'modified'),
                                       want, got):
                    self.assertEqual(a, b, '%s / %s: %s differs' % (collection, key, field))


class ServiceImportTests(MigrationCase):
    """--from-running-service against gnome-keyring with 500 items."""

    @classmethod
    def setUpClass(cls):
        cls.world = h.World(peer='gnome-keyring').start()
        try:
            client = cls.world.connect()
            session = client.open_session()
            t0 = time.monotonic()
            work = gk_create_collection(client, 'Wörk ✓', WORK_PASSWORD)
            personal = gk_create_collection(client, 'Personal 🔑', 'personal pw')
            fill(client, session, h.LOGIN, 'login', 300)
            fill(client, session, work, 'work', 120)
            fill(client, session, personal, 'personal', 80)
            cls.fill_seconds = time.monotonic() - t0
            cls.personal = personal
            client = gk_restart(cls.world, {work: WORK_PASSWORD, personal: 'personal pw'})
            cls.expected = snapshot(client)
        except BaseException:
            cls.world.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.world.stop()

    def import_service(self, *extra):
        return self.coffer_cmd(self.world, 'import', '--from-running-service', '--password-stdin', *extra,
                               input=VAULT_PASSWORD + '\n')

    def test_import_end_to_end(self):
        sys.stderr.write('(filled gnome-keyring with 500 items in %.1f s) ' % self.fill_seconds)
        self.assertEqual(500, sum(len(v) for v in self.expected.values()))
        self.assertEqual({'default', 'Wörk ✓', 'Personal 🔑'}, set(self.expected))

        # Without a vault and without --init: a clear refusal, nothing written.
        r = self.import_service()
        self.assertEqual(1, r.returncode, r.stdout + r.stderr)
        self.assertIn('add --init', r.stderr)
        self.assertFalse(os.path.exists(store_path(self.world)))

        r = self.import_service('--init')
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn('500 imported, 0 already present', r.stdout)
        self.assertIn('gnome-keyring-daemon', r.stdout)
        self.assertIn('2 new collection(s)', r.stdout)
        self.assertEqual('', r.stderr)  # no progress bar: stderr is no terminal

        # Idempotent: a second run adds nothing.
        r = self.import_service()
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn('0 imported, 500 already present', r.stdout)

        # An item changed in the old keyring since: coffer's copy is kept and named.
        client = self.world.connect()
        session = client.open_session()
        changed = client.search({'id': 'login-1'})[0][0]
        client.set_secret(changed, session, b'changed later')
        r = self.import_service()
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn('0 imported, 499 already present, 1 kept', r.stdout)
        self.assertIn('login item 1 ', r.stdout)

        # A locked collection: gnome-keyring has no prompter on this bus, so
        # its unlock prompt fails or times out; those items are reported
        # failed with the reason, the rest is untouched, the exit code says so.
        client.lock([self.personal])
        r = self.import_service('--prompt-timeout', '3')
        self.assertEqual(1, r.returncode, r.stdout + r.stderr)
        self.assertIn('80 failed', r.stdout)
        self.assertIn('Personal 🔑 / ', r.stdout)
        self.assertIn('locked', r.stdout)

        # The old provider goes, cofferd takes over the same store.
        stop_gnome_keyring(self.world)
        start_cofferd(self.world)
        actual = snapshot(self.world.connect())
        self.assertSnapshotsEqual(self.expected, actual)

        # With cofferd serving the store, import refuses and changes nothing.
        r = self.import_service()
        self.assertEqual(1, r.returncode, r.stdout + r.stderr)
        self.assertIn('cofferd is running', r.stderr)
        self.assertSnapshotsEqual(self.expected, snapshot(self.world.connect()))


class KeyringFileTests(MigrationCase):
    """gnome-keyring's .keyring files, written by a real gnome-keyring-daemon."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='coffer-mig-files-')
        gk = h.World(peer='gnome-keyring').start()
        try:
            client = gk.connect()
            session = client.open_session()
            work = gk_create_collection(client, 'Wörk ✓', WORK_PASSWORD)
            fill(client, session, h.LOGIN, 'login', 40)
            fill(client, session, work, 'work', 20)
            client = gk_restart(gk, {work: WORK_PASSWORD})
            cls.expected = snapshot(client)
            stop_gnome_keyring(gk)
            keyrings = os.path.join(gk.env['XDG_DATA_HOME'], 'keyrings')
            cls.login = os.path.join(cls.tmp, 'login.keyring')
            cls.work = os.path.join(cls.tmp, 'work.keyring')
            shutil.copy(os.path.join(keyrings, 'login.keyring'), cls.login)
            shutil.copy(os.path.join(keyrings, 'Wörk_✓.keyring'), cls.work)
        finally:
            gk.stop()
        cls.world = bare_world()

    @classmethod
    def tearDownClass(cls):
        cls.world.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def import_file(self, path, password, *extra):
        return self.coffer_cmd(self.world, 'import', path, '--password-stdin', *extra,
                               input=password + '\n' + VAULT_PASSWORD + '\n')

    def assertRefused(self, path, password, message):
        r = self.import_file(path, password, '--init')
        self.assertEqual(1, r.returncode, r.stdout + r.stderr)
        self.assertIn(message, r.stderr)
        self.assertFalse(os.path.exists(store_path(self.world)), 'a vault was created')

    def test_a_bad_files_write_nothing(self):
        self.assertRefused(self.login, 'wrong password', 'wrong password for this keyring')
        with open(self.login, 'rb') as f:
            data = f.read()
        for cut in (10, 20, 60, 200, len(data) // 2, len(data) - 1):
            self.assertRefused(self.write('cut-%d.keyring' % cut, data[:cut]), h.PASSWORD,
                               'neither' if cut < 12 else 'not a gnome-keyring' if cut < 16
                               else 'damaged or truncated')
        # One bit flipped in the encrypted part: the checksum catches it.
        flipped = bytearray(data)
        flipped[-40] ^= 0x01
        self.assertRefused(self.write('flipped.keyring', bytes(flipped)), h.PASSWORD, 'damaged')
        version = bytearray(data)
        version[16] = 1
        self.assertRefused(self.write('version.keyring', bytes(version)), h.PASSWORD,
                           'unsupported keyring file version')
        self.assertRefused(self.write('trailing.keyring', data + b'\0'), h.PASSWORD, 'damaged or truncated')
        self.assertRefused(self.write('text.keyring', b'[keyring]\ndisplay-name=x\n'), h.PASSWORD,
                           'unencrypted (text)')
        self.assertRefused(self.write('random.bin', os.urandom(300)), h.PASSWORD, 'neither')

    def test_b_import_and_compare(self):
        r = self.import_file(self.login, h.PASSWORD, '--init')
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn('40 imported', r.stdout)
        r = self.import_file(self.work, WORK_PASSWORD)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn('20 imported', r.stdout)
        self.assertIn('1 new collection', r.stdout)
        r = self.import_file(self.login, h.PASSWORD)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn('0 imported, 40 already present', r.stdout)

        start_cofferd(self.world)
        try:
            self.assertSnapshotsEqual(self.expected, snapshot(self.world.connect()))
        finally:
            self.world.stop_daemon()


class ExportTests(MigrationCase):
    """coffer export, then coffer import of it into a fresh vault."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='coffer-mig-export-')
        cls.file = os.path.join(cls.tmp, 'vault.coffer-export')
        cls.source = h.World(peer='coffer', password=VAULT_PASSWORD).start()
        client = cls.source.connect()
        session = client.open_session()
        fill(client, session, h.LOGIN, 'login', 30)
        props = dbus.Dictionary({h.PFX + 'Collection.Label': dbus.String('Wörk ✓', variant_level=1)},
                                signature='sv')
        work, prompt = client.service('CreateCollection', 'a{sv}s', props, 'work')
        assert str(prompt) == '/', prompt
        cls.work = str(work)
        fill(client, session, cls.work, 'work', 10)
        cls.expected = snapshot(client)
        cls.target = bare_world()

    @classmethod
    def tearDownClass(cls):
        cls.source.stop()
        cls.target.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def import_into_target(self, path, password, *extra):
        return self.coffer_cmd(self.target, 'import', path, '--password-stdin', *extra,
                               input=password + '\n' + VAULT_PASSWORD + '\n')

    def test_round_trip(self):
        # Export works beside a running cofferd (it only reads the store).
        r = self.coffer_cmd(self.source, 'export', self.file, '--password-stdin',
                            input=VAULT_PASSWORD + '\nexport pw\n')
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn('Exported 40 item(s) in 2 collection(s)', r.stdout)
        self.assertEqual(0o600, os.stat(self.file).st_mode & 0o777)
        with open(self.file, 'rb') as f:
            data = f.read()
        self.assertTrue(data.startswith(b'COFFEREX\x01\x01'))
        self.assertNotIn(b'login item', data)

        r = self.coffer_cmd(self.source, 'export', self.file, '--password-stdin',
                            input=VAULT_PASSWORD + '\nexport pw\n')
        self.assertEqual(1, r.returncode)
        self.assertIn('--force', r.stderr)

        # Import refuses while cofferd serves the store it would write.
        r = self.coffer_cmd(self.source, 'import', self.file, '--password-stdin',
                            input='export pw\n' + VAULT_PASSWORD + '\n')
        self.assertEqual(1, r.returncode, r.stdout + r.stderr)
        self.assertIn('cofferd is running', r.stderr)

        # Bad passwords and damaged files: clear errors, no vault created.
        def refused(path, password, message):
            r = self.import_into_target(path, password, '--init')
            self.assertEqual(1, r.returncode, r.stdout + r.stderr)
            self.assertIn(message, r.stderr)
            self.assertFalse(os.path.exists(store_path(self.target)))

        def write(name, content):
            path = os.path.join(self.tmp, name)
            with open(path, 'wb') as f:
                f.write(content)
            return path

        refused(self.file, 'wrong', 'wrong password for this export file')
        flipped = bytearray(data)
        flipped[200] ^= 0x80
        refused(write('flipped', bytes(flipped)), 'export pw', 'wrong password for this export file')
        header = bytearray(data)
        header[30] ^= 0x01  # inside the salt: authenticated, so refused too
        refused(write('salt', bytes(header)), 'export pw', 'wrong password for this export file')
        for cut in (8, 40, 70):
            refused(write('cut-%d' % cut, data[:cut]), 'export pw', 'malformed')
        refused(write('cut-end', data[:-1]), 'export pw', 'wrong password for this export file')
        version = bytearray(data)
        version[8] = 9
        refused(write('version', bytes(version)), 'export pw', 'export file version 9')

        r = self.import_into_target(self.file, 'export pw', '--init')
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn('40 imported', r.stdout)
        r = self.import_into_target(self.file, 'export pw')
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn('0 imported, 40 already present', r.stdout)

        start_cofferd(self.target)
        client = self.target.connect()
        self.assertSnapshotsEqual(self.expected, snapshot(client))
        # The alias came along and points at the imported collection.
        path = str(client.service('ReadAlias', 's', 'work'))
        self.assertNotEqual('/', path)
        self.assertEqual('Wörk ✓', str(client.get_prop(path, h.COLLECTION_IFACE, 'Label')))


if __name__ == '__main__':
    group = sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith('-') else None
    unittest.main(defaultTest=group, verbosity=2)
