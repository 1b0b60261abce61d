"""Service and Collection objects: Collections, aliases, CreateCollection,
collection properties and SearchItems, alias object paths."""

import time

import dbus

from harness import (ALGO_DH, COLLECTION_IFACE, DEFAULT_ALIAS, ITEM_IFACE,
                     LOGIN, PFX, SERVICE_IFACE, SESSION_COLL, SS_PATH,
                     ServiceTestCase, coffer_only, main)


class ServiceObjectTests(ServiceTestCase):

    def test_collections_property(self):
        colls = set(map(str, self.client.get_prop(SS_PATH, SERVICE_IFACE, 'Collections')))
        self.assertIn(LOGIN, colls)
        self.assertIn(SESSION_COLL, colls)

    def test_read_alias(self):
        self.assertEqual(self.client.service('ReadAlias', 's', 'default'), LOGIN)
        self.assertEqual(self.client.service('ReadAlias', 's', 'session'), SESSION_COLL)
        self.assertEqual(self.client.service('ReadAlias', 's', 'no-such-alias'), '/')

    def test_set_default_alias_elsewhere_and_back(self):
        try:
            self.client.service('SetAlias', 'so', 'default', dbus.ObjectPath(SESSION_COLL))
            self.assertEqual(self.client.service('ReadAlias', 's', 'default'), SESSION_COLL)
            self.assertEqual(self.client.get_prop(DEFAULT_ALIAS, COLLECTION_IFACE, 'Label'),
                             self.client.get_prop(SESSION_COLL, COLLECTION_IFACE, 'Label'))
        finally:
            self.client.service('SetAlias', 'so', 'default', dbus.ObjectPath(LOGIN))
        self.assertEqual(self.client.service('ReadAlias', 's', 'default'), LOGIN)

    @coffer_only('gnome-keyring supports only the "default" alias in SetAlias')
    def test_set_alias_and_remove(self):
        name = 'testalias'
        self.client.service('SetAlias', 'so', name, dbus.ObjectPath(LOGIN))
        self.assertEqual(self.client.service('ReadAlias', 's', name), LOGIN)
        aliased = SS_PATH + '/aliases/' + name
        self.assertEqual(self.client.get_prop(aliased, COLLECTION_IFACE, 'Label'),
                         self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Label'))
        self.client.service('SetAlias', 'so', name, dbus.ObjectPath('/'))
        self.assertEqual(self.client.service('ReadAlias', 's', name), '/')
        # "default" itself is untouched by all this.
        self.assertEqual(self.client.service('ReadAlias', 's', 'default'), LOGIN)

    def test_search_items_across_collections(self):
        s = self.new_session(ALGO_DH)
        tag = {'across': self.unique()}
        a = self.client.create_item(LOGIN, s, 'a', tag, b'a')
        b = self.client.create_item(SESSION_COLL, s, 'b', tag, b'b')
        self.assertEqual(self.client.search(tag), (sorted([a, b]), []))
        self.assertEqual(self.client.search({'across': 'nothing-has-this'}), ([], []))


class CollectionObjectTests(ServiceTestCase):

    def test_properties(self):
        props = self.client.get_all(LOGIN, COLLECTION_IFACE)
        for name in ('Items', 'Label', 'Locked', 'Created', 'Modified'):
            self.assertIn(name, props)
        self.assertFalse(props['Locked'])
        self.assertIsInstance(int(props['Created']), int)
        self.assertGreaterEqual(int(props['Modified']), int(props['Created']))

    def test_label_writable(self):
        for path in (LOGIN, DEFAULT_ALIAS):
            new = 'Login ✓ %s' % self.unique()
            self.client.set_prop(path, COLLECTION_IFACE, 'Label',
                                 dbus.String(new, variant_level=1))
            self.assertEqual(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Label'), new)
            self.assertEqual(self.client.get_prop(DEFAULT_ALIAS, COLLECTION_IFACE, 'Label'), new)

    def test_collection_search_items_is_scoped(self):
        s = self.new_session(ALGO_DH)
        tag = {'scoped': self.unique()}
        in_login = self.client.create_item(LOGIN, s, 'l', tag, b'l')
        in_session = self.client.create_item(SESSION_COLL, s, 's', tag, b's')
        found = self.client.call(LOGIN, COLLECTION_IFACE, 'SearchItems', 'a{ss}',
                                 dbus.Dictionary(tag, signature='ss'))
        self.assertEqual(list(map(str, found)), [in_login])
        found = self.client.call(SESSION_COLL, COLLECTION_IFACE, 'SearchItems', 'a{ss}',
                                 dbus.Dictionary(tag, signature='ss'))
        self.assertEqual(list(map(str, found)), [in_session])

    def test_alias_path_serves_every_member(self):
        s = self.new_session(ALGO_DH)
        tag = {'alias-members': self.unique()}
        item = self.client.create_item(DEFAULT_ALIAS, s, 'via alias', tag, b'v')
        canonical = LOGIN + '/' + item.rsplit('/', 1)[-1]
        props = self.client.get_all(DEFAULT_ALIAS, COLLECTION_IFACE)
        self.assertEqual(sorted(map(str, props['Items'])), self.client.collection_items(LOGIN))
        self.assertIn(canonical, self.client.collection_items(LOGIN))
        self.assertFalse(props['Locked'])
        for name in ('Created', 'Modified', 'Label'):
            self.assertEqual(self.client.get_prop(DEFAULT_ALIAS, COLLECTION_IFACE, name),
                             self.client.get_prop(LOGIN, COLLECTION_IFACE, name))
        found = self.client.call(DEFAULT_ALIAS, COLLECTION_IFACE, 'SearchItems', 'a{ss}',
                                 dbus.Dictionary(tag, signature='ss'))
        self.assertEqual([p.rsplit('/', 1)[-1] for p in map(str, found)],
                         [canonical.rsplit('/', 1)[-1]])

    def test_collection_modified_moves(self):
        before = int(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Modified'))
        time.sleep(1.1)
        s = self.new_session(ALGO_DH)
        self.client.create_item(LOGIN, s, 'bump', {'bump': self.unique()}, b'b')
        self.client.set_prop(LOGIN, COLLECTION_IFACE, 'Label',
                             dbus.String('bumped', variant_level=1))
        self.assertGreater(int(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Modified')),
                           before)


@coffer_only('gnome-keyring prompts for CreateCollection')
class CreateCollectionTests(ServiceTestCase):

    def create(self, label, alias=''):
        props = dbus.Dictionary({PFX + 'Collection.Label': dbus.String(label, variant_level=1)},
                                signature='sv')
        path, prompt = self.client.service('CreateCollection', 'a{sv}s', props, alias)
        self.assertEqual(prompt, '/', 'coffer creates collections without a prompt')
        self.assertTrue(str(path).startswith(SS_PATH + '/collection/'), path)
        return str(path)

    def test_create_use_and_delete(self):
        with self.client.signals(interface=SERVICE_IFACE) as sigs:
            path = self.create('Work ✓')
            created = sigs.wait_for('CollectionCreated', where=lambda a: str(a[0]) == path)
            self.assertTrue(created, 'no CollectionCreated for %s' % path)
            self.assertIn(path, list(map(str, self.client.get_prop(
                SS_PATH, SERVICE_IFACE, 'Collections'))))
            self.assertEqual(self.client.get_prop(path, COLLECTION_IFACE, 'Label'), 'Work ✓')
            self.assertFalse(self.client.get_prop(path, COLLECTION_IFACE, 'Locked'))
            s = self.new_session(ALGO_DH)
            tag = {'work': self.unique()}
            item = self.client.create_item(path, s, 'w', tag, b'work-secret')
            self.assertTrue(item.startswith(path + '/'))
            self.assertEqual(self.client.search(tag), ([item], []))
            self.assertEqual(self.client.get_secret(item, s)[0], b'work-secret')

            self.client.delete(path, COLLECTION_IFACE)
            deleted = sigs.wait_for('CollectionDeleted', where=lambda a: str(a[0]) == path)
            self.assertTrue(deleted, 'no CollectionDeleted for %s' % path)
        self.assertNotIn(path, list(map(str, self.client.get_prop(
            SS_PATH, SERVICE_IFACE, 'Collections'))))
        self.assertEqual(self.client.search(tag), ([], []))

    def test_create_with_alias(self):
        path = self.create('Aliased', alias='myalias')
        self.assertEqual(self.client.service('ReadAlias', 's', 'myalias'), path)
        self.assertEqual(self.client.get_prop(SS_PATH + '/aliases/myalias',
                                              COLLECTION_IFACE, 'Label'), 'Aliased')
        self.assertEqual(self.client.service('ReadAlias', 's', 'default'), LOGIN)

    def test_set_alias_to_new_collection(self):
        path = self.create('Retarget')
        self.client.service('SetAlias', 'so', 'retarget', dbus.ObjectPath(path))
        self.assertEqual(self.client.service('ReadAlias', 's', 'retarget'), path)
        s = self.new_session(ALGO_DH)
        item = self.client.create_item(SS_PATH + '/aliases/retarget', s, 'r',
                                       {'r': self.unique()}, b'r')
        node = item.rsplit('/', 1)[-1]
        self.assertIn(path + '/' + node, self.client.collection_items(path))
        self.assertEqual(self.client.get_prop(SS_PATH + '/aliases/retarget/' + node,
                                              ITEM_IFACE, 'Label'), 'r')


if __name__ == '__main__':
    main()
