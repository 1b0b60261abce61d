"""Transfer sessions: OpenSession algorithms, Close, ownership, lifetime."""

import dbus

from harness import (ALGO_DH, ALGO_PLAIN, DH_PRIME, ERR_NO_SESSION,
                     ERR_NOT_SUPPORTED, ITEM_IFACE, LOGIN, SESSION_IFACE,
                     SS_PATH, ServiceTestCase, main)


class SessionTests(ServiceTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.client.open_session(ALGO_PLAIN)
        cls.item = cls.client.create_item(LOGIN, s, 'session-probe',
                                          {'suite': 'sessions'}, b'probe-secret')

    def test_plain_session_round_trip(self):
        output, path = self.client.service('OpenSession', 'sv', ALGO_PLAIN,
                                           dbus.String('', variant_level=1))
        self.assertEqual(output, '')
        self.assertTrue(str(path).startswith(SS_PATH + '/session/'), path)
        s = self.new_session(ALGO_PLAIN)
        struct = self.client.call(self.item, ITEM_IFACE, 'GetSecret', 'o',
                                  dbus.ObjectPath(s.path))
        self.assertEqual(bytes(struct[1]), b'', 'plain secrets carry no parameters')
        self.assertEqual(bytes(struct[2]), b'probe-secret')

    def test_dh_session_round_trip(self):
        s = self.new_session(ALGO_DH)
        self.assertTrue(s.path.startswith(SS_PATH + '/session/'), s.path)
        secret, _ = self.client.get_secret(self.item, s)
        self.assertEqual(secret, b'probe-secret')
        struct = self.client.call(self.item, ITEM_IFACE, 'GetSecret', 'o',
                                  dbus.ObjectPath(s.path))
        self.assertEqual(len(bytes(struct[1])), 16, 'AES-CBC IV')
        self.assertNotIn(b'probe-secret', bytes(struct[2]), 'secret sent in clear')

    def test_dh_server_public_key_is_valid(self):
        _, public = __import__('harness').dh_keypair()
        output, _ = self.client.service('OpenSession', 'sv', ALGO_DH,
                                        dbus.ByteArray(public, variant_level=1))
        y = int.from_bytes(bytes(output), 'big')
        self.assertLessEqual(len(bytes(output)), 128)
        self.assertTrue(1 < y < DH_PRIME - 1)

    def test_sessions_are_distinct(self):
        paths = {self.new_session(ALGO_DH).path for _ in range(3)}
        paths |= {self.new_session(ALGO_PLAIN).path for _ in range(3)}
        self.assertEqual(len(paths), 6)

    def test_unknown_algorithm(self):
        for algo in ('rot13', '', 'dh-ietf2048-sha256-aes128-cbc-pkcs7'):
            self.assertDBusError(ERR_NOT_SUPPORTED, self.client.service,
                                 'OpenSession', 'sv', algo,
                                 dbus.String('', variant_level=1))
        self.assertAlive()

    def test_closed_session_is_rejected(self):
        for algo in (ALGO_PLAIN, ALGO_DH):
            s = self.new_session(algo)
            self.client.call(s.path, SESSION_IFACE, 'Close')
            self.assertDBusError(ERR_NO_SESSION, self.client.call, self.item,
                                 ITEM_IFACE, 'GetSecret', 'o', dbus.ObjectPath(s.path))
            self.assertDBusError(ERR_NO_SESSION, self.client.set_secret,
                                 self.item, s, b'must not be stored')
        s = self.new_session(ALGO_PLAIN)
        self.assertEqual(self.client.get_secret(self.item, s)[0], b'probe-secret')

    def test_other_connections_session_is_rejected(self):
        other = self.world.connect()
        theirs = other.open_session(ALGO_PLAIN)
        self.assertEqual(other.get_secret(self.item, theirs)[0], b'probe-secret')
        self.assertDBusError(ERR_NO_SESSION, self.client.call, self.item,
                             ITEM_IFACE, 'GetSecret', 'o', dbus.ObjectPath(theirs.path))
        self.assertDBusError(ERR_NO_SESSION, self.client.set_secret,
                             self.item, theirs, b'must not be stored')
        self.assertDBusError(ERR_NO_SESSION, self.client.service, 'GetSecrets',
                             'aoo', [dbus.ObjectPath(self.item)],
                             dbus.ObjectPath(theirs.path))
        other.close()

    def test_made_up_session_path_is_rejected(self):
        for path in (SS_PATH + '/session/does_not_exist', '/', LOGIN):
            self.assertDBusError(ERR_NO_SESSION, self.client.call, self.item,
                                 ITEM_IFACE, 'GetSecret', 'o', dbus.ObjectPath(path))

    def _session_nodes(self):
        xml = self.client.call(SS_PATH + '/session',
                               'org.freedesktop.DBus.Introspectable', 'Introspect')
        import xml.etree.ElementTree as ET
        root = ET.fromstring(str(xml))
        return {n.get('name') for n in root.findall('node')}

    def test_session_vanishes_when_connection_closes(self):
        other = self.world.connect()
        theirs = other.open_session(ALGO_DH)
        node = theirs.path.rsplit('/', 1)[-1]
        if node not in self._session_nodes():
            self.skipTest('daemon does not enumerate session nodes')
        other.close()
        import harness
        gone = harness.pump(5, until=lambda: node not in self._session_nodes())
        self.assertTrue(gone, 'session %s outlived its connection' % theirs.path)
        self.assertAlive()

    def test_closed_session_is_unexported(self):
        s = self.new_session(ALGO_PLAIN)
        node = s.path.rsplit('/', 1)[-1]
        if node not in self._session_nodes():
            self.skipTest('daemon does not enumerate session nodes')
        self.client.call(s.path, SESSION_IFACE, 'Close')
        self.assertNotIn(node, self._session_nodes())


if __name__ == '__main__':
    main()
