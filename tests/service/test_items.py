"""Items: CreateItem, secrets, properties, Delete, GetSecrets, sizes."""

import os
import time

import dbus

from harness import (IS_COFFER, ALGO_DH, ALGO_PLAIN, COLLECTION_IFACE, DEFAULT_ALIAS,
                     ERR_NO_SUCH_OBJECT, ITEM_IFACE, LOGIN, PFX, SESSION_COLL,
                     ServiceTestCase, main)

# What a vanished item may answer: coffer's own error, or what GDBus says
# for an object it no longer exports (gnome-keyring).
GONE = (ERR_NO_SUCH_OBJECT, 'org.freedesktop.DBus.Error.UnknownMethod',
        'org.freedesktop.DBus.Error.UnknownObject')


class ItemTests(ServiceTestCase):

    def assertSecret(self, got, secret, content_type):
        """Compare a (secret, content type) pair.  gnome-keyring always
        answers text/plain, so the content type is checked for coffer only."""
        self.assertTrue(got[0] == secret, 'secret differs (%d vs %d bytes)'
                        % (len(got[0]), len(secret)))
        if IS_COFFER:
            self.assertEqual(got[1], content_type)

    def setUp(self):
        self.plain = self.new_session(ALGO_PLAIN)
        self.dh = self.new_session(ALGO_DH)

    def make(self, secret=b's3cret', label=None, attrs=None, **kw):
        attrs = attrs if attrs is not None else {'id': self.unique()}
        return self.client.create_item(LOGIN, kw.pop('session', self.dh),
                                       label or 'label', attrs, secret, **kw)

    def test_create_sets_label_attributes_and_secret(self):
        attrs = {'service': 'example.org', 'user': self.unique('u'),
                 'xdg:schema': 'org.example.Password'}
        item = self.make(b'hunter2', label='Example login', attrs=attrs)
        self.assertTrue(item.startswith(LOGIN + '/'), item)
        props = self.client.get_all(item, ITEM_IFACE)
        self.assertEqual(props['Label'], 'Example login')
        self.assertEqual(dict(props['Attributes']), attrs, 'xdg:schema must be kept')
        self.assertFalse(props['Locked'])
        self.assertIn(item, self.client.collection_items(LOGIN))
        for s in (self.plain, self.dh):
            self.assertEqual(self.client.get_secret(item, s), (b'hunter2', 'text/plain'))

    def test_content_type_round_trips(self):
        for ctype in ('text/plain; charset=utf8', 'application/octet-stream'):
            for s in (self.plain, self.dh):
                item = self.make(b'\x00\x01\xfe\xff', session=s, content_type=ctype)
                for reader in (self.plain, self.dh):
                    self.assertSecret(self.client.get_secret(item, reader),
                                      b'\x00\x01\xfe\xff', ctype)

    def test_replace_true_updates_existing_item(self):
        attrs = {'replace': self.unique()}
        first = self.make(b'one', attrs=attrs)
        before = self.client.collection_items(LOGIN)
        second = self.make(b'two', attrs=attrs, replace=True)
        self.assertEqual(first, second, 'replace must keep the object path')
        self.assertEqual(self.client.collection_items(LOGIN), before)
        self.assertEqual(self.client.get_secret(first, self.dh)[0], b'two')
        self.assertEqual(self.client.search(attrs), ([first], []))

    def test_replace_false_creates_new_item(self):
        attrs = {'noreplace': self.unique()}
        first = self.make(b'one', attrs=attrs)
        second = self.make(b'two', attrs=attrs, replace=False)
        self.assertNotEqual(first, second)
        self.assertEqual(self.client.search(attrs), (sorted([first, second]), []))
        self.assertEqual(self.client.get_secret(first, self.dh)[0], b'one')
        self.assertEqual(self.client.get_secret(second, self.dh)[0], b'two')

    def test_empty_secret_and_empty_attributes(self):
        item = self.make(b'', attrs={})
        self.assertEqual(self.client.get_secret(item, self.dh)[0], b'')
        self.assertEqual(self.client.get_secret(item, self.plain)[0], b'')
        self.assertEqual(dict(self.client.get_prop(item, ITEM_IFACE, 'Attributes')), {})

    def test_set_secret(self):
        item = self.make(b'old')
        self.client.set_secret(item, self.plain, b'new-plain', 'application/octet-stream')
        self.assertSecret(self.client.get_secret(item, self.dh),
                          b'new-plain', 'application/octet-stream')
        self.client.set_secret(item, self.dh, b'new-dh')
        self.assertEqual(self.client.get_secret(item, self.plain), (b'new-dh', 'text/plain'))

    def test_label_and_attributes_writable(self):
        old = {'writable': self.unique()}
        item = self.make(attrs=old)
        self.client.set_prop(item, ITEM_IFACE, 'Label', dbus.String('Renamed ✓', variant_level=1))
        new = {'writable': self.unique(), 'extra': 'x'}
        self.client.set_prop(item, ITEM_IFACE, 'Attributes',
                             dbus.Dictionary(new, signature='ss', variant_level=1))
        self.assertEqual(self.client.get_prop(item, ITEM_IFACE, 'Label'), 'Renamed ✓')
        self.assertEqual(dict(self.client.get_prop(item, ITEM_IFACE, 'Attributes')), new)
        self.assertEqual(self.client.search(old), ([], []))
        self.assertEqual(self.client.search(new), ([item], []))
        self.assertEqual(self.client.search({'extra': 'x'})[0].count(item), 1)

    def test_timestamps(self):
        now = time.time()
        item = self.make()
        created = int(self.client.get_prop(item, ITEM_IFACE, 'Created'))
        modified = int(self.client.get_prop(item, ITEM_IFACE, 'Modified'))
        self.assertLessEqual(abs(created - now), 5, 'Created is in seconds since the epoch')
        self.assertGreaterEqual(modified, created)
        time.sleep(1.1)
        self.client.set_secret(item, self.dh, b'changed')
        after_secret = int(self.client.get_prop(item, ITEM_IFACE, 'Modified'))
        self.assertGreater(after_secret, modified)
        time.sleep(1.1)
        self.client.set_prop(item, ITEM_IFACE, 'Label', dbus.String('relabelled', variant_level=1))
        self.assertGreater(int(self.client.get_prop(item, ITEM_IFACE, 'Modified')), after_secret)
        self.assertEqual(int(self.client.get_prop(item, ITEM_IFACE, 'Created')), created)

    def test_delete(self):
        attrs = {'delete': self.unique()}
        item = self.make(attrs=attrs)
        prompt = self.client.call(item, ITEM_IFACE, 'Delete')
        self.assertEqual(prompt, '/')
        self.assertNotIn(item, self.client.collection_items(LOGIN))
        self.assertEqual(self.client.search(attrs), ([], []))
        self.assertDBusError(GONE, self.client.get_secret, item, self.dh)
        self.assertDBusError(GONE, self.client.get_prop, item, ITEM_IFACE, 'Label')

    def test_unicode_label_and_attributes(self):
        label = 'Ключ 🔑 — 鍵 — κλειδί'
        attrs = {'naïve-ключ': 'значение 値 🗝', 'emoji': '🙂' * 50, 'u': self.unique()}
        item = self.make('пароль 🔐'.encode(), label=label, attrs=attrs)
        self.assertEqual(self.client.get_prop(item, ITEM_IFACE, 'Label'), label)
        self.assertEqual(dict(self.client.get_prop(item, ITEM_IFACE, 'Attributes')), attrs)
        self.assertEqual(self.client.search({'naïve-ключ': 'значение 値 🗝',
                                             'u': attrs['u']}), ([item], []))
        self.assertEqual(self.client.get_secret(item, self.plain)[0], 'пароль 🔐'.encode())

    def test_one_mib_binary_secret(self):
        blob = os.urandom(1 << 20)
        for s in (self.dh, self.plain):
            item = self.make(blob, session=s, content_type='application/octet-stream')
            for reader in (self.dh, self.plain):
                self.assertSecret(self.client.get_secret(item, reader),
                                  blob, 'application/octet-stream')
            self.client.set_secret(item, s, blob[::-1])
            self.assertTrue(self.client.get_secret(item, self.dh)[0] == blob[::-1])

    def test_get_secrets(self):
        items = {self.make(('multi-%d' % i).encode()): ('multi-%d' % i).encode()
                 for i in range(3)}
        for s in (self.plain, self.dh):
            result = self.client.service('GetSecrets', 'aoo',
                                         [dbus.ObjectPath(p) for p in items],
                                         dbus.ObjectPath(s.path))
            self.assertEqual(sorted(map(str, result)), sorted(items))
            for path, struct in result.items():
                self.assertEqual(s.decode(struct)[0], items[str(path)])

    def test_alias_item_paths(self):
        item = self.make(b'via-alias')
        node = item.rsplit('/', 1)[-1]
        aliased = DEFAULT_ALIAS + '/' + node
        self.assertEqual(self.client.get_secret(aliased, self.dh)[0], b'via-alias')
        self.assertEqual(self.client.get_prop(aliased, ITEM_IFACE, 'Label'), 'label')
        self.client.set_secret(aliased, self.plain, b'set-via-alias')
        self.assertEqual(self.client.get_secret(item, self.dh)[0], b'set-via-alias')
        created = self.client.create_item(DEFAULT_ALIAS, self.dh, 'created via alias',
                                          {'a': self.unique()}, b'x')
        canonical = LOGIN + '/' + created.rsplit('/', 1)[-1]
        self.assertIn(canonical, self.client.collection_items(LOGIN))
        self.assertEqual(self.client.get_secret(canonical, self.plain)[0], b'x')
        self.client.delete(aliased)
        self.assertNotIn(item, self.client.collection_items(LOGIN))

    def test_session_collection_items(self):
        attrs = {'session-coll': self.unique()}
        item = self.client.create_item(SESSION_COLL, self.dh, 'in memory', attrs, b'mem')
        self.assertTrue(item.startswith(SESSION_COLL + '/'), item)
        self.assertEqual(self.client.get_secret(item, self.plain)[0], b'mem')
        self.assertEqual(self.client.search(attrs), ([item], []))
        self.assertNotIn(item, self.client.collection_items(LOGIN))


class ManyItemsTests(ServiceTestCase):

    COUNT = 1000

    def test_thousand_items_all_found(self):
        s = self.new_session(ALGO_PLAIN)
        created = set()
        for i in range(self.COUNT):
            created.add(self.client.create_item(
                LOGIN, s, 'bulk %d' % i, {'bulk': 'yes', 'n': str(i)},
                ('secret %d' % i).encode()))
        self.assertEqual(len(created), self.COUNT)
        unlocked, locked = self.client.search({'bulk': 'yes'})
        self.assertEqual(set(unlocked), created)
        self.assertEqual(locked, [])
        self.assertEqual(self.client.search({'bulk': 'yes', 'n': '777'})[0].__len__(), 1)
        self.assertTrue(created <= set(self.client.collection_items(LOGIN)))
        result = self.client.service('GetSecrets', 'aoo',
                                     [dbus.ObjectPath(p) for p in sorted(created)],
                                     dbus.ObjectPath(s.path))
        self.assertEqual(len(result), self.COUNT)
        self.assertEqual({s.decode(v)[0] for v in result.values()},
                         {('secret %d' % i).encode() for i in range(self.COUNT)})


if __name__ == '__main__':
    main()
