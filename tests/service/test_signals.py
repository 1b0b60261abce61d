"""Signals: ItemCreated/Changed/Deleted, CollectionChanged, and
org.freedesktop.DBus.Properties.PropertiesChanged for Label, Attributes
and Locked.  (CollectionCreated/Deleted: test_collections.py.)"""

import dbus

from harness import (ALGO_DH, COLLECTION_IFACE, ITEM_IFACE, LOGIN, PROPS_IFACE,
                     SERVICE_IFACE, ServiceTestCase, coffer_only, main)


def first_arg_is(path):
    return lambda args: str(args[0]) == path


def changes_property(iface, name):
    """PropertiesChanged(iface, changed, invalidated) naming `name`."""
    return lambda args: (str(args[0]) == iface
                         and (name in args[1] or name in list(map(str, args[2]))))


class SignalTests(ServiceTestCase):

    def setUp(self):
        self.s = self.new_session(ALGO_DH)

    def make(self):
        return self.client.create_item(LOGIN, self.s, 'signal', {'sig': self.unique()}, b'x')

    def test_item_created(self):
        with self.client.signals(interface=COLLECTION_IFACE, path=LOGIN) as sigs:
            item = self.make()
            self.assertTrue(sigs.wait_for('ItemCreated', where=first_arg_is(item)),
                            'no ItemCreated for %s: %s' % (item, sigs.received))

    @coffer_only('gnome-keyring emits no ItemChanged when only the secret changes')
    def test_item_changed_on_set_secret(self):
        item = self.make()
        with self.client.signals(interface=COLLECTION_IFACE, path=LOGIN) as sigs:
            self.client.set_secret(item, self.s, b'changed')
            self.assertTrue(sigs.wait_for('ItemChanged', where=first_arg_is(item)),
                            'no ItemChanged after SetSecret')

    @coffer_only('gnome-keyring emits no ItemChanged when only the secret changes')
    def test_item_changed_on_replace(self):
        attrs = {'sig-replace': self.unique()}
        item = self.client.create_item(LOGIN, self.s, 'r', attrs, b'1')
        with self.client.signals(interface=COLLECTION_IFACE, path=LOGIN) as sigs:
            again = self.client.create_item(LOGIN, self.s, 'r', attrs, b'2', replace=True)
            self.assertEqual(again, item)
            self.assertTrue(sigs.wait_for('ItemChanged', where=first_arg_is(item)),
                            'no ItemChanged after CreateItem(replace=True)')

    def test_label_change_signals(self):
        item = self.make()
        with self.client.signals(path=item) as item_sigs, \
                self.client.signals(interface=COLLECTION_IFACE, path=LOGIN) as coll_sigs:
            self.client.set_prop(item, ITEM_IFACE, 'Label',
                                 dbus.String('new label', variant_level=1))
            self.assertTrue(coll_sigs.wait_for('ItemChanged', where=first_arg_is(item)),
                            'no ItemChanged after Label set')
            hits = item_sigs.wait_for('PropertiesChanged', interface=PROPS_IFACE,
                                      where=changes_property(ITEM_IFACE, 'Label'))
            self.assertTrue(hits, 'no PropertiesChanged(Label): %s' % item_sigs.received)
            changed = hits[0][3][1]
            if 'Label' in changed:
                self.assertEqual(changed['Label'], 'new label')

    def test_attributes_change_signals(self):
        item = self.make()
        with self.client.signals(path=item) as item_sigs, \
                self.client.signals(interface=COLLECTION_IFACE, path=LOGIN) as coll_sigs:
            self.client.set_prop(item, ITEM_IFACE, 'Attributes',
                                 dbus.Dictionary({'k': 'v'}, signature='ss', variant_level=1))
            self.assertTrue(coll_sigs.wait_for('ItemChanged', where=first_arg_is(item)))
            self.assertTrue(item_sigs.wait_for('PropertiesChanged', interface=PROPS_IFACE,
                                               where=changes_property(ITEM_IFACE, 'Attributes')),
                            'no PropertiesChanged(Attributes): %s' % item_sigs.received)

    def test_item_deleted(self):
        item = self.make()
        with self.client.signals(interface=COLLECTION_IFACE, path=LOGIN) as sigs:
            self.client.delete(item)
            self.assertTrue(sigs.wait_for('ItemDeleted', where=first_arg_is(item)),
                            'no ItemDeleted for %s' % item)

    def test_collection_label_change(self):
        with self.client.signals(path=LOGIN) as coll_sigs, \
                self.client.signals(interface=SERVICE_IFACE) as svc_sigs:
            self.client.set_prop(LOGIN, COLLECTION_IFACE, 'Label',
                                 dbus.String('Relabelled', variant_level=1))
            self.assertTrue(coll_sigs.wait_for('PropertiesChanged', interface=PROPS_IFACE,
                                               where=changes_property(COLLECTION_IFACE, 'Label')),
                            'no PropertiesChanged(Label) on the collection')
            self.assertTrue(svc_sigs.wait_for('CollectionChanged', where=first_arg_is(LOGIN)),
                            'no CollectionChanged for %s' % LOGIN)

    def test_locked_property_changes(self):
        with self.client.signals(path=LOGIN, interface=PROPS_IFACE) as sigs:
            self.world.lock_vault()
            locked = sigs.wait_for('PropertiesChanged',
                                   where=changes_property(COLLECTION_IFACE, 'Locked'))
            self.assertTrue(locked, 'no PropertiesChanged(Locked) on lock')
            self.world.unlock_vault()
            both = sigs.wait_for('PropertiesChanged', count=2,
                                 where=changes_property(COLLECTION_IFACE, 'Locked'))
            self.assertEqual(len(both), 2, 'no PropertiesChanged(Locked) on unlock')
        values = [h[3][1]['Locked'] for h in both if 'Locked' in h[3][1]]
        if len(values) == 2:
            self.assertEqual([bool(v) for v in values], [True, False])
        self.assertFalse(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))

    def test_no_signal_for_reads(self):
        item = self.make()
        with self.client.signals(interface=COLLECTION_IFACE, path=LOGIN) as sigs:
            self.client.get_secret(item, self.s)
            self.client.get_all(item, ITEM_IFACE)
            self.client.search({'sig': 'whatever'})
            self.assertEqual(sigs.wait_for('ItemChanged', timeout=0.5), [],
                             'reads must not emit ItemChanged')


if __name__ == '__main__':
    main()
