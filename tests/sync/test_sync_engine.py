"""End-to-end tests of sync: real cofferd agents (each with its own bus,
HOME, store and device id) against a private Apache mod_dav server or a
shared folder, driven through the coffer CLI and D-Bus.

Run one group:  test_sync_engine.py ConvergeTests
"""

import os
import random
import sys
import time
import unittest

import harness
from harness import LOGIN, COLLECTION_IFACE
from faultproxy import FaultProxy
from synchelp import SyncCase, ACCOUNT, RecordingProxy


def records_dir(dav):
    return os.path.join(dav.root, 'records')


def server_object(dav, item_id):
    return os.path.join(records_dir(dav), item_id)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def rewrite(path, data):
    """Replaces a server file's bytes in place (owner kept) with a new mtime,
    so the server's ETag changes as it would after a real write."""
    with open(path, 'r+b') as f:
        f.seek(0)
        f.write(data)
        f.truncate()
    st = os.stat(path)
    os.utime(path, (st.st_atime + 7, st.st_mtime + 7))


class ConvergeTests(SyncCase):
    def test_two_agents_converge(self):
        dav = self.start_dav()
        a, b = self.first_and_joined(dav.url, dav)
        a1 = a.create('a one', {'app': 'a', 'n': '1'}, 'secret a1')
        a2 = a.create('a two', {'app': 'a', 'n': '2'}, 'secret a2')
        b1 = b.create('b one', {'app': 'b', 'n': '1'}, 'secret b1')
        b2 = b.create('b two', {'app': 'b', 'n': '2'}, 'secret b2')
        self.sync_all([a, b])
        snap = self.assertConverged([a, b])
        self.assertEqual(set(snap), {a1, a2, b1, b2})
        self.assertEqual(snap[b1], ('b one', {'app': 'b', 'n': '1'}, b'secret b1'))

        # updates and deletes on each side, of the other side's items
        a.set_secret(b1, 'changed by a')
        b.set_label(a1, 'renamed by b')
        a.delete(b2)
        b.delete(a2)
        self.sync_all([a, b])
        snap = self.assertConverged([a, b])
        self.assertEqual(set(snap), {a1, b1})
        self.assertEqual(snap[b1][2], b'changed by a')
        self.assertEqual(snap[a1][0], 'renamed by b')
        st = a.status()
        self.assertEqual(st['pending changes'], '0')
        self.assertNotIn('last sync error', st)
        self.assertNotEqual(st['last sync'], 'never')

    def test_three_agents_converge(self):
        dav = self.start_dav()
        agents = self.first_and_joined(dav.url, dav, n=3)
        ids = {}
        for i, ag in enumerate(agents):
            for k in range(3):
                ids[(ag.name, k)] = ag.create('%s %d' % (ag.name, k), {'who': ag.name, 'k': str(k)},
                                              'secret %s %d' % (ag.name, k))
        self.sync_all(agents)
        snap = self.assertConverged(agents)
        self.assertEqual(len(snap), 9)
        a, b, c = agents
        c.set_secret(ids[('a', 0)], 'c was here')
        a.delete(ids[('b', 1)])
        b.set_label(ids[('c', 2)], 'b renamed it')
        c.create('late', {'who': 'c', 'k': 'late'}, 'late secret')
        self.sync_all(agents)
        snap = self.assertConverged(agents)
        self.assertEqual(len(snap), 9)
        self.assertEqual(snap[ids[('a', 0)]][2], b'c was here')
        self.assertNotIn(ids[('b', 1)], snap)
        self.assertEqual(snap[ids[('c', 2)]][0], 'b renamed it')

    def test_changes_arrive_without_asking(self):
        """A local change is pushed on its own (debounced) and the other
        agent's poll timer picks it up: no `coffer sync` anywhere."""
        dav = self.start_dav()
        a, b = self.first_and_joined(dav.url, dav)
        item = a.create('pushed by itself', {'auto': '1'}, 'auto secret')
        self.wait_until(lambda: item in b.snapshot(), timeout=20, message='the item to reach b')
        self.assertEqual(b.snapshot()[item][2], b'auto secret')

    def test_idle_poll_is_one_conditional_get_of_head(self):
        dav = self.start_dav()
        with RecordingProxy(dav.port) as proxy:
            a = self.agent('a', poll=3600)
            a.remote_set(proxy.url(), dav)
            a.create('x', {'x': '1'}, 'x')
            a.sync()
            b = self.agent('b', init=False, poll=1)
            b.join(proxy.url(), dav)
            time.sleep(1.5)  # let b's first poll after the join settle
            proxy.log.clear()
            time.sleep(3.2)
            seen = list(proxy.log)
            self.assertGreaterEqual(len(seen), 2, seen)
            self.assertLessEqual(len(seen), 5, seen)
            for method, target, status, sent, received in seen:
                self.assertEqual((method, target.rsplit('/', 1)[1], status), ('GET', 'head', 304))
                self.assertLess(sent + received, 1024)


class SignalTests(SyncCase):
    def test_remote_changes_reach_dbus_clients(self):
        dav = self.start_dav()
        a, b = self.first_and_joined(dav.url, dav, poll=3600)
        watcher = b.connect()
        with watcher.signals(interface=COLLECTION_IFACE, path=LOGIN) as rec:
            item = a.create('signalled', {'sig': '1'}, 'one')
            a.sync()
            b.sync()
            path = LOGIN + '/' + item
            got = rec.wait_for('ItemCreated', where=lambda args: str(args[0]) == path)
            self.assertEqual(len(got), 1)
            a.set_secret(item, 'two')
            a.sync()
            b.sync()
            got = rec.wait_for('ItemChanged', where=lambda args: str(args[0]) == path)
            self.assertGreaterEqual(len(got), 1)
            a.delete(item)
            a.sync()
            b.sync()
            got = rec.wait_for('ItemDeleted', where=lambda args: str(args[0]) == path)
            self.assertEqual(len(got), 1)
        self.assertNotIn(item, b.snapshot())


class ConflictTests(SyncCase):
    def test_concurrent_edits_one_winner_loser_in_history(self):
        dav = self.start_dav()
        a, b = self.first_and_joined(dav.url, dav, poll=3600)
        item = a.create('shared', {'conflict': '1'}, 'v0')
        self.sync_all([a, b])
        a.set_label(item, 'edit from a')
        a.set_secret(item, 'secret from a')
        time.sleep(0.05)  # b's edit is the later one: it wins
        b.set_label(item, 'edit from b')
        b.set_secret(item, 'secret from b')
        a.sync()
        b.sync()
        a.sync()
        snap = self.assertConverged([a, b])
        self.assertEqual(snap[item], ('edit from b', {'conflict': '1'}, b'secret from b'))
        self.assertIn('edit from a', a.history(item))  # the loser, kept where it lost

    def test_offline_edits_merge_after_reconnect(self):
        dav = self.start_dav()
        with FaultProxy(dav.port, seed=0) as proxy:
            a, b = self.first_and_joined(proxy.url(), dav, poll=3600)
            x1 = a.create('x1', {'x': '1'}, 'x1')
            x2 = a.create('x2', {'x': '2'}, 'x2')
            self.sync_all([a, b])

            proxy.rates['error500'] = 1.0  # the server is down
            p = a.create('made offline on a', {'off': 'a'}, 'pa')
            a.set_secret(x1, 'x1 edited offline')
            q = b.create('made offline on b', {'off': 'b'}, 'qb')
            b.delete(x2)
            self.assertNotEqual(a.sync(check=False).returncode, 0)
            self.assertNotEqual(a.status()['pending changes'], '0')
            self.assertIn('last sync error', a.status())

            proxy.rates.clear()  # back
            self.sync_all([a, b])
            snap = self.assertConverged([a, b])
            self.assertEqual(set(snap), {x1, p, q})
            self.assertEqual(snap[x1][2], b'x1 edited offline')
            self.assertEqual(a.status()['pending changes'], '0')

    def test_delete_then_later_edit_keeps_the_edit(self):
        """Documented outcome: the later revision wins, deletion or not."""
        dav = self.start_dav()
        a, b = self.first_and_joined(dav.url, dav, poll=3600)
        item = a.create('contested', {'race': '1'}, 'v0')
        self.sync_all([a, b])
        a.delete(item)
        time.sleep(0.05)
        b.set_secret(item, 'edited after the delete')
        a.sync()
        b.sync()
        a.sync()
        snap = self.assertConverged([a, b])
        self.assertEqual(snap[item][2], b'edited after the delete')

    def test_edit_then_later_delete_deletes(self):
        dav = self.start_dav()
        a, b = self.first_and_joined(dav.url, dav, poll=3600)
        item = a.create('contested', {'race': '2'}, 'v0')
        self.sync_all([a, b])
        b.set_label(item, 'edited before the delete')
        time.sleep(0.05)
        a.delete(item)
        a.sync()
        b.sync()
        a.sync()
        snap = self.assertConverged([a, b])
        self.assertNotIn(item, snap)
        self.assertIn('edited before the delete', b.history(item))


class FaultTests(SyncCase):
    SEEDS = [int(s) for s in os.environ.get('COFFER_TEST_FAULT_SEEDS', '11,23,37,41').split(',')]
    RATES = {'error500': 0.08, 'reset': 0.05, 'truncate': 0.05, 'drop_put': 0.1, 'delay': 0.1}

    def test_seeded_fault_runs_converge(self):
        for seed in self.SEEDS:
            with self.subTest(seed=seed):
                self.one_run(seed)
                for ag in self.agents:
                    ag.stop()
                self.agents = []
                self.dav.stop()
                self.dav.cleanup()
                self.dav = None

    def one_run(self, seed):
        dav = self.start_dav()
        rng = random.Random(seed)
        with FaultProxy(dav.port, seed=seed, max_delay_s=0.1) as proxy:
            a, b = self.first_and_joined(proxy.url(), dav, poll=3600)
            proxy.rates.update(self.RATES)
            # each agent works on its own items, so the expected end state is
            # exactly what each acknowledged
            model = {}
            owned = {a.name: [], b.name: []}
            for step in range(12):
                ag = rng.choice([a, b])
                mine = owned[ag.name]
                op = rng.choice(['create', 'create', 'update', 'delete']) if mine else 'create'
                if op == 'create':
                    n = '%s-%d' % (ag.name, step)
                    item = ag.create(n, {'seed': str(seed), 'n': n}, 'secret ' + n)
                    mine.append(item)
                    model[item] = (n, {'seed': str(seed), 'n': n}, ('secret ' + n).encode())
                elif op == 'update':
                    item = rng.choice(mine)
                    ag.set_secret(item, 'updated %d' % step)
                    model[item] = model[item][:2] + (('updated %d' % step).encode(),)
                else:
                    item = rng.choice(mine)
                    mine.remove(item)
                    ag.delete(item)
                    del model[item]
                if rng.random() < 0.5:
                    ag.sync(check=False)  # may fail: the change stays pending
            proxy.rates.clear()
            self.sync_all([a, b], rounds=3)
            snap = self.assertConverged([a, b])
            self.assertEqual(snap, model, 'seed %d lost or invented something' % seed)
            self.assertEqual(a.status()['pending changes'], '0')
            self.assertEqual(b.status()['pending changes'], '0')


class TamperTests(SyncCase):
    def setup_pair(self):
        dav = self.start_dav()
        a, b = self.first_and_joined(dav.url, dav, poll=3600)
        item = a.create('guarded', {'t': '1'}, 'original secret')
        other = a.create('other', {'t': '2'}, 'other secret')
        self.sync_all([a, b])
        return dav, a, b, item, other

    def assertRefused(self, agent, item, secret):
        r = agent.sync(check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('last sync error', agent.status())
        self.assertEqual(agent.snapshot()[item][2], secret)
        self.assertTrue(agent.alive())

    def test_flipped_byte_is_refused(self):
        dav, a, b, item, _ = self.setup_pair()
        path = server_object(dav, item)
        data = bytearray(read(path))
        data[-5] ^= 0x01
        rewrite(path, bytes(data))
        self.assertRefused(b, item, b'original secret')
        self.assertIn('refused records/' + item, b.status()['last sync error'])

    def test_swapped_ids_are_refused(self):
        dav, a, b, item, other = self.setup_pair()
        theirs = read(server_object(dav, other))
        rewrite(server_object(dav, item), theirs)
        self.assertRefused(b, item, b'original secret')
        self.assertEqual(b.snapshot()[other][2], b'other secret')

    def test_replayed_older_version_is_refused_and_repaired(self):
        dav, a, b, item, _ = self.setup_pair()
        old = read(server_object(dav, item))
        a.set_secret(item, 'newer secret')
        a.sync()
        b.sync()
        self.assertEqual(b.snapshot()[item][2], b'newer secret')
        rewrite(server_object(dav, item), old)
        r = b.sync(check=False)
        self.assertIn('rollback', b.status().get('last sync error', '') + r.stderr + r.stdout)
        self.assertEqual(b.snapshot()[item][2], b'newer secret')
        # b puts the newer version back; a sees nothing wrong
        b.sync(check=False)
        self.assertNotEqual(read(server_object(dav, item)), old)
        a.sync()
        self.assertEqual(a.snapshot()[item][2], b'newer secret')

    def test_foreign_header_is_refused(self):
        dav, a, b, item, _ = self.setup_pair()
        stranger = self.agent('s')
        # another vault cannot take this remote over with `remote set`
        r = stranger.remote_set(dav.url, dav, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('another vault', r.stderr)
        share = self.folder()
        stranger.remote_set('file://' + share)
        rewrite(os.path.join(dav.root, 'vault'), read(os.path.join(share, 'vault')))
        r = b.sync(check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('refusing the remote', b.status()['last sync error'])
        self.assertEqual(b.snapshot()[item][2], b'original secret')

    def test_join_with_wrong_account_password_fails(self):
        dav = self.start_dav()
        a = self.agent('a')
        a.remote_set(dav.url, dav)
        b = self.agent('b', init=False)
        r = b.join(dav.url, dav, check=False, account='not the account password')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('wrong password', r.stderr)


class FolderTests(SyncCase):
    def test_two_agents_share_a_folder(self):
        share = self.folder()
        url = 'file://' + share
        a, b = self.first_and_joined(url, None, poll=3600)
        x = a.create('in a folder', {'f': '1'}, 'folder secret')
        y = b.create('from b', {'f': '2'}, 'b secret')
        self.sync_all([a, b])
        snap = self.assertConverged([a, b])
        self.assertEqual(set(snap), {x, y})
        b.set_secret(x, 'b changed it')
        a.delete(y)
        # a sync tool's conflict copy beside the records is not ours: ignored
        with open(os.path.join(share, 'records', x + ' (conflicted copy)'), 'wb') as f:
            f.write(b'junk')
        self.sync_all([a, b])
        snap = self.assertConverged([a, b])
        self.assertEqual(set(snap), {x})
        self.assertEqual(snap[x][2], b'b changed it')


class HistoryTests(SyncCase):
    def test_history_restore_cleanup(self):
        share = self.folder()
        a, b = self.first_and_joined('file://' + share, None, poll=3600, cleanup_days=0)
        item = a.create('v1', {'h': '1'}, 'one')
        a.set_label(item, 'v2')
        a.set_label(item, 'v3')
        out = a.history(item)
        self.assertIn('v1', out)
        self.assertIn('v2', out)
        seq = next(line.split()[0] for line in out.splitlines()[1:] if line.rstrip().endswith('v1'))
        a.coffer('restore', item, seq)
        self.assertEqual(a.snapshot()[item][0], 'v1')
        self.sync_all([a, b])
        self.assertEqual(b.snapshot()[item][0], 'v1')  # a restore is a new revision: it syncs

        gone = a.create('to delete', {'h': '2'}, 'bye')
        self.sync_all([a, b])
        a.delete(gone)
        self.sync_all([a, b])
        self.assertTrue(os.path.exists(os.path.join(share, 'records', gone)))
        time.sleep(1.1)  # max age 0 days: anything older than now goes
        out = a.coffer('cleanup').stdout
        self.assertRegex(out, r'removed [1-9]\d* old versions')
        self.assertRegex(out, r'[1-9]\d* expired deletions on the remote')
        self.assertFalse(os.path.exists(os.path.join(share, 'records', gone)))
        self.assertNotIn('v2', a.history(item))
        # b still has the tombstone; its syncs must not bring the record back
        self.sync_all([a, b])
        self.assertFalse(os.path.exists(os.path.join(share, 'records', gone)))
        self.assertConverged([a, b])


if __name__ == '__main__':
    group = sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith('-') else None
    unittest.main(defaultTest=group, verbosity=2)
