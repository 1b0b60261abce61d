"""Persistence across a daemon restart: login items come back with the
same object paths and secrets, session-collection items do not, and a
freshly started (locked) coffer still finds items through lookup hashes."""

import os

import dbus

from harness import (ALGO_DH, ALGO_PLAIN, COLLECTION_IFACE, IS_COFFER,
                     ITEM_IFACE, LOGIN, PFX, SERVICE_IFACE, SESSION_COLL,
                     SS_PATH, ServiceTestCase, coffer_only, main)


class RestartTests(ServiceTestCase):

    def snapshot(self, items, session):
        snap = {}
        for path in items:
            props = self.client.get_all(path, ITEM_IFACE)
            attrs = dict(props['Attributes'])
            if not IS_COFFER:  # gnome-keyring adds its generic schema on reload
                attrs.pop('xdg:schema', None)
            snap[path] = (str(props['Label']), attrs,
                          int(props['Created']), int(props['Modified']),
                          self.client.get_secret(path, session)[0])
        return snap

    def test_login_items_survive_restart(self):
        c = self.client
        s = c.open_session(ALGO_DH)
        tag = {'persist': 'yes'}
        blob = os.urandom(70000)
        login_items = [
            c.create_item(LOGIN, s, 'plain text', dict(tag, n='1'), b'first'),
            c.create_item(LOGIN, s, 'Юникод 🔑', dict(tag, n='2', ключ='значение'),
                          'секрет'.encode()),
            c.create_item(LOGIN, s, 'binary', dict(tag, n='3'), blob,
                          content_type='application/octet-stream'),
        ]
        replaced = c.create_item(LOGIN, s, 'to be replaced', dict(tag, n='4'), b'old')
        self.assertEqual(c.create_item(LOGIN, s, 'replaced', dict(tag, n='4'), b'new',
                                       replace=True), replaced)
        login_items.append(replaced)
        deleted = c.create_item(LOGIN, s, 'deleted', dict(tag, n='5'), b'gone')
        c.delete(deleted)
        session_item = c.create_item(SESSION_COLL, s, 'memory only', dict(tag, n='mem'), b'm')

        before = self.snapshot(login_items, s)
        collections = sorted(map(str, c.get_prop(SS_PATH, SERVICE_IFACE, 'Collections')))
        login_items_prop = c.collection_items(LOGIN)
        login_label = c.get_prop(LOGIN, COLLECTION_IFACE, 'Label')

        self.world.restart_daemon()
        c = self.client = self.world.connect()
        type(self).client = c

        if IS_COFFER:
            self.assertTrue(c.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'),
                            'coffer must start locked')
            unlocked, locked = c.search(tag)
            self.assertEqual(unlocked, [])
            self.assertEqual(locked, sorted(login_items),
                             'locked search must work from lookup hashes alone')
            self.assertEqual(c.search({'n': '2', 'ключ': 'значение'}), ([], [login_items[1]]))
            result = self.world.unlock_vault()
            self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(c.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))

        self.assertEqual(sorted(map(str, c.get_prop(SS_PATH, SERVICE_IFACE, 'Collections'))),
                         collections)
        self.assertEqual(c.service('ReadAlias', 's', 'default'), LOGIN)
        self.assertEqual(c.collection_items(LOGIN), login_items_prop)
        self.assertEqual(c.get_prop(LOGIN, COLLECTION_IFACE, 'Label'), login_label)
        for algo in (ALGO_DH, ALGO_PLAIN):
            s = c.open_session(algo)
            self.assertEqual(self.snapshot(login_items, s), before)
        self.assertEqual(c.search(tag), (sorted(login_items), []))
        self.assertNotIn(deleted, c.collection_items(LOGIN))
        self.assertNotIn(session_item, c.collection_items(SESSION_COLL))
        self.assertEqual(c.search({'n': 'mem'}), ([], []))

        # The store still takes writes after the restart.
        s = c.open_session(ALGO_DH)
        c.set_secret(login_items[0], s, b'after restart')
        self.assertEqual(c.get_secret(login_items[0], s)[0], b'after restart')


@coffer_only('gnome-keyring prompts for CreateCollection')
class CreatedCollectionRestartTests(ServiceTestCase):

    def test_created_collection_survives_restart(self):
        c = self.client
        props = dbus.Dictionary({PFX + 'Collection.Label': dbus.String('Work', variant_level=1)},
                                signature='sv')
        path, prompt = c.service('CreateCollection', 'a{sv}s', props, 'work')
        path = str(path)
        self.assertEqual(prompt, '/')
        s = c.open_session(ALGO_DH)
        item = c.create_item(path, s, 'work item', {'w': '1'}, b'w-secret')

        self.world.restart_daemon()
        c = self.world.connect()
        type(self).client = c
        self.assertEqual(self.world.unlock_vault().returncode, 0)
        self.assertIn(path, list(map(str, c.get_prop(SS_PATH, SERVICE_IFACE, 'Collections'))))
        self.assertEqual(c.get_prop(path, COLLECTION_IFACE, 'Label'), 'Work')
        self.assertEqual(c.service('ReadAlias', 's', 'work'), path)
        self.assertEqual(c.collection_items(path), [item])
        self.assertEqual(c.get_secret(item, c.open_session(ALGO_PLAIN))[0], b'w-secret')


if __name__ == '__main__':
    main()
