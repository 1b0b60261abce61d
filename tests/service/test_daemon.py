#!/usr/bin/python3
"""cofferd as a process: bad stores are refused without being touched, a
second agent and another provider are named, --replace takes over."""

import hashlib
import os
import sqlite3
import time
import subprocess
import unittest

import dbus
import dbus.bus

from harness import BUS_NAME, IS_COFFER, LOGIN, World, coffer_only


def digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def store_path(world):
    return os.path.join(world.env['XDG_DATA_HOME'], 'coffer', 'vault.db')


def run_cofferd(world, *args, env=None, timeout=20):
    """Runs a second cofferd in the world; returns it when it exits."""
    return subprocess.run([os.environ['COFFERD']] + list(args), env=env or world.env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


@coffer_only()
class BadStoreTests(unittest.TestCase):
    """Each test damages a real vault, then starts cofferd on it."""

    def setUp(self):
        self.world = World().start()
        self.world.stop_daemon()
        self.path = store_path(self.world)
        # Fold the WAL into the main file so each test controls every byte.
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
        db.close()

    def tearDown(self):
        self.world.stop()

    def assertRefused(self, *words):
        before = digest(self.path)
        result = run_cofferd(self.world)
        self.assertNotEqual(result.returncode, 0, result.stderr)
        self.assertIn('cannot open the vault', result.stderr)
        for word in words:
            self.assertIn(word, result.stderr.lower())
        self.assertEqual(digest(self.path), before, 'a refused store was modified')

    def test_garbage_file(self):
        with open(self.path, 'wb') as f:
            f.write(os.urandom(8192))
        self.assertRefused()

    def test_truncated_file(self):
        size = os.path.getsize(self.path)
        with open(self.path, 'r+b') as f:
            f.truncate(size // 2)
        self.assertRefused()

    def test_newer_format(self):
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute('PRAGMA user_version = 99')
        db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
        db.close()
        self.assertRefused('format 99')

    def test_damaged_keyslot_keeps_data(self):
        # A flipped byte in the key slot: the agent starts, unlock fails with
        # a clear message, and nothing is rewritten.
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            (slot,) = db.execute("SELECT value FROM meta WHERE key = 'keyslot'").fetchone()
            slot = bytearray(slot)
            slot[-1] ^= 0x01
            db.execute("UPDATE meta SET value = ? WHERE key = 'keyslot'", (bytes(slot),))
            db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
        finally:
            db.close()
        before = digest(self.path)
        self.world.start_daemon()
        result = self.world.unlock_vault()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('wrong password', result.stderr)
        self.assertTrue(self.world.connect().get_prop(LOGIN, 'org.freedesktop.Secret.Collection', 'Locked'))
        self.world.stop_daemon()
        self.assertEqual(digest(self.path), before)


@coffer_only()
class ProviderTests(unittest.TestCase):

    def setUp(self):
        self.world = World().start()

    def tearDown(self):
        self.world.stop()

    def owner_pid(self):
        bus = dbus.bus.BusConnection(self.world.address)
        try:
            return bus.call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                                     'GetConnectionUnixProcessID', 's', (BUS_NAME,))
        finally:
            bus.close()

    def test_second_agent_names_the_first(self):
        result = run_cofferd(self.world)
        self.assertEqual(result.returncode, 1)
        self.assertIn('already provided by', result.stderr)
        self.assertIn('cofferd (pid %d)' % self.world.daemon.pid, result.stderr)
        self.assertTrue(self.world.alive())

    def test_second_agent_on_another_bus_is_refused_by_the_socket(self):
        # Same user and runtime dir, other bus: the control socket is taken.
        other = World()
        other.root = self.world.root + '-other'
        os.makedirs(other.root)
        other.env = dict(self.world.env)
        try:
            other._start_bus()
            result = run_cofferd(other, env=other.env)
        finally:
            other.stop()
        self.assertEqual(result.returncode, 1)
        self.assertIn('control', result.stderr)
        self.assertTrue(self.world.alive())

    def test_replace_takes_over(self):
        old = self.world.daemon
        new = subprocess.Popen([os.environ['COFFERD'], '--replace'], env=self.world.env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        try:
            self.assertEqual(old.wait(10), 0)
            self.world.daemon = new
            self.world._wait_for_name()
            self.assertEqual(self.owner_pid(), new.pid)
            # The new agent serves the control socket once its name is set up.
            deadline = time.monotonic() + 10
            while self.world.coffer('status', check=False).returncode != 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(self.world.coffer('status').returncode, 0)
        finally:
            self.world.daemon = new

    def test_other_provider_is_named(self):
        self.world.stop_daemon()
        keyring = subprocess.Popen(['gnome-keyring-daemon', '--foreground', '--components=secrets', '--unlock'],
                                   env=self.world.env, stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            keyring.stdin.write(b'pw')
            keyring.stdin.close()
            self.world.daemon = keyring
            self.world._wait_for_name(control_socket=False)
            result = run_cofferd(self.world)
            self.assertEqual(result.returncode, 1)
            self.assertIn('gnome-keyring-daemon', result.stderr)
            self.assertIn('--replace', result.stderr)
            # gnome-keyring does not allow replacement: say so.
            result = run_cofferd(self.world, '--replace')
            self.assertEqual(result.returncode, 1)
            self.assertIn('does not allow replacement', result.stderr)
        finally:
            self.world.daemon = None
            keyring.terminate()
            keyring.wait(10)


if __name__ == '__main__':
    unittest.main(verbosity=2)
