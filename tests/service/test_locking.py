"""Lock and Unlock: what a locked vault still answers and what it refuses,
and the Unlock prompt (completed out of band by `coffer unlock`, or
dismissed)."""

import dbus

from harness import (ALGO_DH, ALGO_PLAIN, COLLECTION_IFACE, DEFAULT_ALIAS,
                     ERR_IS_LOCKED, ITEM_IFACE, LOGIN, PROMPT_IFACE,
                     ServiceTestCase, coffer_only, main)


class LockingTests(ServiceTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.client.open_session(ALGO_PLAIN)
        cls.tag = {'suite': 'locking'}
        # Creation order: items[i] holds secret locked-<i>.
        cls.created = [cls.client.create_item(LOGIN, s, 'lock %d' % i,
                                              dict(cls.tag, n=str(i)),
                                              ('locked-%d' % i).encode())
                       for i in range(3)]
        cls.items = sorted(cls.created)

    def setUp(self):
        if self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'):
            self.world.unlock_vault()
        self.assertFalse(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))
        self.dh = self.new_session(ALGO_DH)
        self.plain = self.new_session(ALGO_PLAIN)

    def lock(self):
        locked, prompt = self.client.lock([LOGIN])
        self.assertEqual(prompt, '/')
        self.assertIn(LOGIN, locked)
        self.assertTrue(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))

    def test_lock_and_out_of_band_unlock(self):
        self.lock()
        for item in self.items:
            self.assertTrue(self.client.get_prop(item, ITEM_IFACE, 'Locked'))
        result = self.world.unlock_vault()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))
        for i, item in enumerate(self.created):
            self.assertFalse(self.client.get_prop(item, ITEM_IFACE, 'Locked'))
            self.assertEqual(self.client.get_secret(item, self.dh)[0],
                             ('locked-%d' % i).encode())

    def test_lock_through_alias(self):
        locked, prompt = self.client.lock([DEFAULT_ALIAS])
        self.assertEqual(prompt, '/')
        self.assertTrue(set(locked) & {LOGIN, DEFAULT_ALIAS}, locked)
        self.assertTrue(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))

    def test_search_finds_locked_items(self):
        self.assertEqual(self.client.search(self.tag), (self.items, []))
        self.lock()
        self.assertEqual(self.client.search(self.tag), ([], self.items))
        self.assertEqual(self.client.search(dict(self.tag, n='1')), ([], [self.created[1]]))
        self.assertEqual(self.client.search({'suite': 'none'}), ([], []))
        self.assertEqual(self.client.collection_items(LOGIN).count(self.items[0]), 1)

    def test_locked_secrets_are_refused(self):
        before = self.client.collection_items(LOGIN)
        self.lock()
        item = self.created[0]
        for s in (self.dh, self.plain):
            self.assertDBusError(ERR_IS_LOCKED, self.client.get_secret, item, s)
            self.assertDBusError(ERR_IS_LOCKED, self.client.set_secret, item, s, b'nope')
            self.assertDBusError(ERR_IS_LOCKED, self.client.create_item, LOGIN, s,
                                 'nope', {'nope': '1'}, b'nope')
        self.world.unlock_vault()
        self.assertEqual(self.client.collection_items(LOGIN), before)
        self.assertEqual(self.client.get_secret(item, self.dh)[0], b'locked-0')
        self.assertEqual(self.client.search({'nope': '1'}), ([], []))

    @coffer_only('gnome-keyring leaves locked items out of GetSecrets')
    def test_locked_get_secrets_is_refused(self):
        self.lock()
        self.assertDBusError(ERR_IS_LOCKED, self.client.service, 'GetSecrets', 'aoo',
                             [dbus.ObjectPath(p) for p in self.items],
                             dbus.ObjectPath(self.dh.path))

    def test_unlock_of_unlocked_needs_no_prompt(self):
        unlocked, prompt = self.client.unlock([LOGIN])
        self.assertEqual(prompt, '/')
        self.assertEqual(unlocked, [LOGIN])

    def test_unlock_returns_prompt_and_dismiss(self):
        self.lock()
        unlocked, prompt = self.client.unlock([LOGIN])
        self.assertNotEqual(prompt, '/', 'a locked vault needs a prompt')
        self.assertEqual(unlocked, [])
        with self.client.signals(interface=PROMPT_IFACE, member='Completed',
                                 path=prompt) as sigs:
            self.client.call(prompt, PROMPT_IFACE, 'Dismiss')
            done = sigs.wait_for()
        self.assertEqual(len(done), 1, 'no Completed after Dismiss')
        dismissed, _result = done[0][3]
        self.assertTrue(dismissed)
        self.assertTrue(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))

    @coffer_only('out-of-band completion of a prompt by `coffer unlock`')
    def test_unlock_prompt_completed_by_cli(self):
        self.world.lock_vault()
        self.assertTrue(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))
        unlocked, prompt = self.client.unlock([LOGIN])
        self.assertNotEqual(prompt, '/')
        with self.client.signals(interface=PROMPT_IFACE, member='Completed',
                                 path=prompt) as sigs:
            self.client.call(prompt, PROMPT_IFACE, 'Prompt', 's', '')
            self.assertEqual(sigs.wait_for(timeout=0.3), [],
                             'prompt completed before the vault was unlocked')
            result = self.world.unlock_vault()
            self.assertEqual(result.returncode, 0, result.stderr)
            done = sigs.wait_for(timeout=10)
        self.assertEqual(len(done), 1, 'no Completed after coffer unlock')
        dismissed, objects = done[0][3]
        self.assertFalse(dismissed)
        self.assertEqual(objects.signature, 'o')
        self.assertIn(LOGIN, list(map(str, objects)))
        self.assertFalse(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))
        self.assertEqual(self.client.get_secret(self.created[2], self.dh)[0], b'locked-2')


if __name__ == '__main__':
    main()
