"""Error replies and hostile input: unknown objects, bad signatures,
malformed DH keys and ciphertexts, huge attribute sets, raw messages.
After each, the daemon must still serve and the store must be unchanged."""

import os
import socket

import dbus

from harness import (ALGO_DH, ALGO_PLAIN, COLLECTION_IFACE, DH_PRIME,
                     ERR_INVALID_ARGS, ERR_NO_SESSION, ERR_NO_SUCH_OBJECT,
                     IS_COFFER, ITEM_IFACE, LOGIN, SERVICE_IFACE, SS_PATH,
                     ServiceTestCase, coffer_only, dh_aes_key, dh_keypair, main)

ERR_UNKNOWN_METHOD = 'org.freedesktop.DBus.Error.UnknownMethod'
# coffer answers NoSuchObject for anything under /collection/ it does not
# have; GDBus-skeleton daemons (gnome-keyring) answer UnknownMethod.
NO_OBJECT = (ERR_NO_SUCH_OBJECT,) if IS_COFFER else (ERR_UNKNOWN_METHOD,)


class ErrorTests(ServiceTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.client.open_session(ALGO_PLAIN)
        cls.item = cls.client.create_item(LOGIN, s, 'error-probe', {'suite': 'errors'}, b'probe')

    def setUp(self):
        self.dh = self.new_session(ALGO_DH)
        self.items_before = self.client.collection_items(LOGIN)

    def assertUnchanged(self):
        """The daemon answers and no item appeared or vanished."""
        self.assertAlive()
        self.assertEqual(self.client.collection_items(LOGIN), self.items_before)
        self.assertEqual(self.client.get_secret(self.item, self.dh)[0], b'probe')

    # unknown objects and methods
    def test_unknown_item_path(self):
        missing = LOGIN + '/no_such_item'
        self.assertDBusError(NO_OBJECT, self.client.call, missing, ITEM_IFACE,
                             'GetSecret', 'o', dbus.ObjectPath(self.dh.path))
        self.assertDBusError(NO_OBJECT, self.client.get_prop, missing, ITEM_IFACE, 'Label')
        self.assertDBusError(NO_OBJECT, self.client.call, missing, ITEM_IFACE, 'Delete')
        self.assertDBusError(NO_OBJECT, self.client.set_secret, missing, self.dh, b'x')
        self.assertUnchanged()

    def test_unknown_collection_path(self):
        missing = SS_PATH + '/collection/no_such_collection'
        self.assertDBusError(NO_OBJECT, self.client.get_prop, missing,
                             COLLECTION_IFACE, 'Items')
        self.assertDBusError(NO_OBJECT, self.client.create_item, missing, self.dh,
                             'x', {'x': 'y'}, b'x')
        self.assertDBusError(NO_OBJECT, self.client.call, missing, COLLECTION_IFACE,
                             'SearchItems', 'a{ss}', dbus.Dictionary({}, signature='ss'))
        # No collection, so no item container is exported there: the bus
        # library answers for the missing object itself.
        self.assertDBusError((NO_OBJECT, ERR_UNKNOWN_METHOD, 'org.freedesktop.DBus.Error.UnknownObject'),
                             self.client.get_prop, missing + '/1', ITEM_IFACE, 'Label')
        self.assertUnchanged()

    def test_unknown_method(self):
        self.assertDBusError(ERR_UNKNOWN_METHOD, self.client.service, 'NoSuchMethod')
        self.assertDBusError(ERR_UNKNOWN_METHOD, self.client.call, LOGIN,
                             COLLECTION_IFACE, 'Explode')

    # wrong signatures: GDBus checks the incoming type against the
    # introspection data and answers InvalidArgs.
    def test_wrong_signatures(self):
        calls = [
            (SS_PATH, SERVICE_IFACE, 'OpenSession', 's', ('plain',)),
            (SS_PATH, SERVICE_IFACE, 'OpenSession', 'ss', ('plain', '')),
            (SS_PATH, SERVICE_IFACE, 'SearchItems', 'a{sv}',
             (dbus.Dictionary({'a': dbus.String('b', variant_level=1)}, signature='sv'),)),
            (SS_PATH, SERVICE_IFACE, 'ReadAlias', 'i', (5,)),
            (SS_PATH, SERVICE_IFACE, 'SetAlias', 'ss', ('x', '/')),
            (SS_PATH, SERVICE_IFACE, 'Unlock', 'as', (['/'],)),
            (SS_PATH, SERVICE_IFACE, 'GetSecrets', 'ao', ([dbus.ObjectPath(self.item)],)),
            (LOGIN, COLLECTION_IFACE, 'CreateItem', 'a{sv}(oayays)',
             (self.client.item_props('x', {}), self.dh.encode(b'x'))),
            (LOGIN, COLLECTION_IFACE, 'CreateItem', 'a{ss}(oayays)b',
             (dbus.Dictionary({}, signature='ss'), self.dh.encode(b'x'), False)),
            (self.item, ITEM_IFACE, 'GetSecret', 's', (self.dh.path,)),
            (self.item, ITEM_IFACE, 'SetSecret', '(oayas)',
             (dbus.Struct((dbus.ObjectPath(self.dh.path), b'', ['x']), signature='oayas'),)),
            (self.item, ITEM_IFACE, 'Delete', 'b', (True,)),
        ]
        for path, iface, method, sig, args in calls:
            with self.subTest(method=method, sig=sig):
                self.assertDBusError(ERR_INVALID_ARGS, self.client.call, path, iface,
                                     method, sig, *args)
        self.assertUnchanged()

    def test_property_writes_of_wrong_type(self):
        label = self.client.get_prop(self.item, ITEM_IFACE, 'Label')
        self.assertDBusError(ERR_INVALID_ARGS, self.client.set_prop, self.item, ITEM_IFACE,
                             'Label', dbus.Int32(7, variant_level=1))
        self.assertDBusError(ERR_INVALID_ARGS, self.client.set_prop, self.item, ITEM_IFACE,
                             'Attributes', dbus.Array(['a'], signature='s', variant_level=1))
        self.assertEqual(self.client.get_prop(self.item, ITEM_IFACE, 'Label'), label)
        self.assertUnchanged()

    def test_read_only_property(self):
        with self.assertRaises(Exception):
            self.client.set_prop(LOGIN, COLLECTION_IFACE, 'Locked',
                                 dbus.Boolean(True, variant_level=1))
        self.assertFalse(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))
        self.assertUnchanged()

    # malformed transport input
    def open_dh_raw(self, public):
        return self.client.service('OpenSession', 'sv', ALGO_DH,
                                   dbus.ByteArray(public, variant_level=1))

    @coffer_only('coffer validates DH public values; gnome-keyring accepts some of these')
    def test_bad_dh_public_values(self):
        cases = {
            'empty': b'',
            'too long (129 bytes)': b'\x01' * 129,
            'too long (256 bytes)': os.urandom(256),
            'zero': bytes(128),
            'one': (1).to_bytes(128, 'big'),
            'p-1': (DH_PRIME - 1).to_bytes(128, 'big'),
            'p': DH_PRIME.to_bytes(128, 'big'),
            'all ones': b'\xff' * 128,
        }
        for name, public in cases.items():
            with self.subTest(case=name):
                self.assertDBusError(ERR_INVALID_ARGS, self.open_dh_raw, public)
        self.assertUnchanged()

    def test_dh_input_of_wrong_type(self):
        self.assertDBusError(ERR_INVALID_ARGS, self.client.service, 'OpenSession', 'sv',
                             ALGO_DH, dbus.String('not bytes', variant_level=1))
        self.assertUnchanged()

    def test_short_public_key_is_accepted(self):
        # libsecret sends the minimal big-endian encoding, so a key with a
        # leading zero byte arrives as 127 bytes: that must work.
        while True:
            private, public = dh_keypair()
            if public[0] == 0:
                break
        output, path = self.open_dh_raw(public[1:])
        key = dh_aes_key(private, bytes(output))
        from harness import Session
        s = Session(str(path), ALGO_DH, key)
        self.assertEqual(self.client.get_secret(self.item, s)[0], b'probe')

    def malformed_secret(self, params, value):
        return self.dh.raw_struct(params, value)

    def encrypted_with(self, plaintext_block, iv=None):
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        iv = iv or os.urandom(16)
        enc = Cipher(algorithms.AES(self.dh.aes_key), modes.CBC(iv)).encryptor()
        return iv, enc.update(plaintext_block) + enc.finalize()

    def check_rejected(self, struct, name):
        with self.subTest(case=name):
            self.assertDBusError(ERR_INVALID_ARGS, self.client.call, self.item, ITEM_IFACE,
                                 'SetSecret', '(oayays)', struct)
            self.assertDBusError(ERR_INVALID_ARGS, self.client.call, LOGIN, COLLECTION_IFACE,
                                 'CreateItem', 'a{sv}(oayays)b',
                                 self.client.item_props('bad', {'bad': name}), struct, False)
            self.assertEqual(self.client.search({'bad': name}), ([], []))

    @coffer_only('gnome-keyring answers some malformed ciphertexts differently')
    def test_bad_ciphertexts(self):
        good = self.dh.encode(b'0123456789')
        iv, ct = bytes(good[1]), bytes(good[2])
        self.check_rejected(self.malformed_secret(iv[:15], ct), '15-byte IV')
        self.check_rejected(self.malformed_secret(iv + b'\0', ct), '17-byte IV')
        self.check_rejected(self.malformed_secret(b'', ct), 'no IV')
        self.check_rejected(self.malformed_secret(iv, ct[:15]), 'partial block')
        self.check_rejected(self.malformed_secret(iv, b''), 'no ciphertext')
        for pad_name, block in (('pad byte 0', b'A' * 15 + b'\x00'),
                                ('pad byte 17', b'A' * 15 + b'\x11'),
                                ('inconsistent pad', b'A' * 12 + b'\x04\x03\x04\x04')):
            piv, pct = self.encrypted_with(block)
            self.check_rejected(self.malformed_secret(piv, pct), pad_name)
        self.assertUnchanged()

    def test_15_byte_iv(self):
        good = self.dh.encode(b'0123456789')
        bad = self.malformed_secret(bytes(good[1])[:15], bytes(good[2]))
        self.assertDBusError(ERR_INVALID_ARGS, self.client.call, self.item, ITEM_IFACE,
                             'SetSecret', '(oayays)', bad)
        self.assertUnchanged()

    def test_secret_for_unknown_session(self):
        bogus = dbus.Struct((dbus.ObjectPath(SS_PATH + '/session/bogus'), b'', b'x',
                             'text/plain'), signature='oayays')
        self.assertDBusError(ERR_NO_SESSION, self.client.call, self.item, ITEM_IFACE,
                             'SetSecret', '(oayays)', bogus)
        self.assertUnchanged()

    # size and raw-message abuse
    def test_ten_thousand_attributes(self):
        attrs = {'attr-%05d' % i: 'value-%d' % i for i in range(10000)}
        try:
            item = self.client.create_item(LOGIN, self.dh, 'many attributes', attrs, b'many')
        except Exception as e:  # a clean D-Bus error is acceptable too
            self.assertIn('DBusCallError', type(e).__name__, repr(e))
            self.assertUnchanged()
            return
        self.assertAlive()
        got = dict(self.client.get_prop(item, ITEM_IFACE, 'Attributes'))
        if not IS_COFFER:  # gnome-keyring may add its generic schema
            got.pop('xdg:schema', None)
        extra = {k: got[k] for k in set(got) - set(attrs)}
        self.assertTrue(got == attrs, 'stored attributes differ: %d vs %d, extra %r'
                         % (len(got), len(attrs), list(extra.items())[:5]))
        self.assertEqual(self.client.search({'attr-04242': 'value-4242'}), ([item], []))
        self.assertEqual(self.client.get_secret(item, self.dh)[0], b'many')
        self.client.delete(item)
        self.assertUnchanged()

    @coffer_only('coffer bounds secrets and replies')
    def test_oversized_secret_is_refused(self):
        self.assertDBusError(ERR_INVALID_ARGS, self.client.create_item, LOGIN, self.dh, 'huge',
                             {'huge': 'yes'}, os.urandom(17 * 1024 * 1024))
        self.assertUnchanged()

    @coffer_only('coffer bounds secrets and replies')
    def test_reply_past_the_bus_limit_is_an_error(self):
        items = [self.client.create_item(LOGIN, self.dh, 'big %d' % i, {'big': str(i)},
                                         os.urandom(12 * 1024 * 1024)) for i in range(3)]
        try:
            self.assertDBusError('org.freedesktop.DBus.Error.LimitsExceeded', self.client.service,
                                 'GetSecrets', 'aoo', [dbus.ObjectPath(i) for i in items],
                                 dbus.ObjectPath(self.dh.path))
            self.assertAlive()
            # Fewer at a time works.
            got = self.client.service('GetSecrets', 'aoo', [dbus.ObjectPath(items[0])],
                                      dbus.ObjectPath(self.dh.path))
            self.assertEqual(list(got), [items[0]])
        finally:
            for item in items:
                self.client.delete(item)

    def test_raw_message_with_invalid_utf8(self):
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        addr = DBusAddress(SS_PATH, bus_name='org.freedesktop.secrets',
                           interface=SERVICE_IFACE)
        marker = 'QQQQQQQQ'
        msg = new_method_call(addr, 'SearchItems', 'a{ss}', ({'suite': marker},))
        conn = open_dbus_connection(bus=self.world.address)
        try:
            data = msg.serialise(serial=4242)
            self.assertEqual(data.count(marker.encode()), 1)
            data = data.replace(marker.encode(), b'\xff\xfe\xc0\x80\xed\xa0\x80Q')
            try:
                conn.sock.sendall(data)
                conn.sock.settimeout(2)
                conn.sock.recv(4096)  # error reply or disconnection by the bus
            except (OSError, socket.timeout):
                pass
        finally:
            conn.close()
        self.assertUnchanged()

    def test_many_sessions_then_disconnect(self):
        other = self.world.connect()
        for _ in range(200):
            other.open_session(ALGO_PLAIN)
        other.close()
        self.assertUnchanged()


if __name__ == '__main__':
    main()
