"""Auto-lock (agent/lock/): the vault locks after idle time, when the
screen saver turns on (session bus), on logind's Session.Lock and before
sleep (PrepareForSleep) on a private "system" bus where tests/prompt/
fake-logind owns org.freedesktop.login1; nothing locks when the
configuration says no; the agent stops (and so forgets its keys) when the
session bus goes away."""

import os
import select
import subprocess
import time

import dbus
import dbus.lowlevel

from harness import (COLLECTION_IFACE, ERR_IS_LOCKED, LOGIN, PROPS_IFACE, START_TIMEOUT, _bus_config, _stop_process,
                     main)
from prompt_harness import PinentryWorld, PromptTestCase

FAKE_LOGIND = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fake-logind')
SESSION_ID = 'c7'


def start_private_bus(root, name, env):
    """A dbus-daemon like the world's session bus; returns (process, address)."""
    busdir = os.path.join(root, name)
    os.mkdir(busdir, 0o700)
    cfg = os.path.join(root, name + '.conf')
    with open(cfg, 'w') as f:
        f.write(_bus_config(busdir))
    rfd, wfd = os.pipe()
    try:
        proc = subprocess.Popen(['dbus-daemon', '--config-file=' + cfg, '--nofork', '--print-address=%d' % wfd],
                                pass_fds=(wfd,), env=env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(wfd)
        wfd = -1
        ready, _, _ = select.select([rfd], [], [], START_TIMEOUT)
        line = os.read(rfd, 4096).decode().strip() if ready else ''
    finally:
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)
    if not line:
        _stop_process(proc)
        raise RuntimeError('the %s dbus-daemon printed no address' % name)
    return proc, line.splitlines()[0]


class LockWorld(PinentryWorld):
    """No pinentry (unlocking is `coffer unlock`), the given [lock] keys, and
    with system_bus a private system bus with a fake logind on it; without
    one, DBUS_SYSTEM_BUS_ADDRESS points nowhere (never at the host's bus)."""

    def __init__(self, lock=None, system_bus=True, **kw):
        super().__init__(config={'pinentry': 'none'}, **kw)
        self.lock_keys = lock or {}
        self.system_bus = system_bus
        self.system_proc = None
        self.logind = None

    def write_config(self, keys, text=None):
        if text is None:
            text = ('[agent]\n' + ''.join('%s=%s\n' % kv for kv in keys.items()) +
                    '[lock]\n' + ''.join('%s=%s\n' % kv for kv in self.lock_keys.items()))
        PinentryWorld.write_config(self, keys, text)

    def _start_bus(self):
        super()._start_bus()
        if not self.system_bus:
            self.env['DBUS_SYSTEM_BUS_ADDRESS'] = 'unix:path=' + os.path.join(self.root, 'no-system-bus')
            return
        self.system_proc, address = start_private_bus(self.root, 'system-bus', self.env)
        self.env['DBUS_SYSTEM_BUS_ADDRESS'] = address
        self.env['XDG_SESSION_ID'] = SESSION_ID
        self.logind = subprocess.Popen([FAKE_LOGIND, address, SESSION_ID], env=self.env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE)
        self.logind_output = []
        self._logind_buffer = b''
        if self.logind_line() != 'READY':
            raise RuntimeError('fake-logind did not start: %r' % self.logind_output)

    def logind_line(self, timeout=START_TIMEOUT):
        """The next line fake-logind printed, or '' after timeout.  Unbuffered
        reads, so select() sees every line that is not returned yet."""
        fd = self.logind.stdout.fileno()
        while b'\n' not in self._logind_buffer:
            ready, _, _ = select.select([fd], [], [], timeout)
            chunk = os.read(fd, 4096) if ready else b''
            if not chunk:
                return ''
            self._logind_buffer += chunk
        line, self._logind_buffer = self._logind_buffer.split(b'\n', 1)
        self.logind_output.append(line.decode())
        return line.decode()

    def logind_command(self, command):
        """Has the fake logind emit a signal; returns once it is sent."""
        self.logind.stdin.write(command.encode() + b'\n')
        self.logind.stdin.flush()
        while self.logind_line() not in ('OK', ''):
            pass

    def logind_calls(self):
        """The method calls fake-logind answered so far."""
        while self.logind_line(0):
            pass
        return [line for line in self.logind_output if line.startswith('CALL ')]

    def stop(self):
        try:
            self.stop_daemon()
        finally:
            if self.logind is not None:
                self.logind.stdin.close()
                _stop_process(self.logind)
                self.logind.stdout.close()
                self.logind = None
            _stop_process(self.system_proc)
            self.system_proc = None
            super().stop()


class LockTestCase(PromptTestCase):
    lock_keys = {}
    system_bus = True

    @classmethod
    def setUpClass(cls):
        cls.world = LockWorld(lock=cls.lock_keys, system_bus=cls.system_bus).start()
        cls.client = cls.world.connect()

    def setUp(self):
        if self.vault_locked():
            self.unlock()

    # Neither of these is a Secret Service call, so neither resets the idle timer.
    def vault_locked(self):
        status = self.world.coffer('status').stdout
        self.assertIn('vault: ', status)
        return 'vault: locked' in status

    def unlock(self):
        self.assertEqual(self.world.unlock_vault().returncode, 0, self.world.daemon_log())
        self.assertFalse(self.vault_locked())

    def lock_signals(self):
        """Records PropertiesChanged(Locked=true) on the login collection."""
        return self.client.signals(interface=PROPS_IFACE, member='PropertiesChanged', path=LOGIN)

    @staticmethod
    def locked_now(args):
        return str(args[0]) == COLLECTION_IFACE and bool(args[1].get('Locked', False))

    def wait_locked(self, sigs, timeout=8.0):
        """Waits for the Locked signal; returns when it came (monotonic)."""
        got = sigs.wait_for(where=self.locked_now, timeout=timeout)
        self.assertTrue(got, 'the vault did not lock:\n' + self.world.daemon_log())
        when = time.monotonic()
        self.assertTrue(self.vault_locked())
        return when

    def emit_screensaver(self, active, iface='org.freedesktop.ScreenSaver', path='/org/freedesktop/ScreenSaver'):
        msg = dbus.lowlevel.SignalMessage(path, iface, 'ActiveChanged')
        msg.append(active, signature='b')
        self.client.bus.send_message(msg)
        self.client.bus.flush()

    def logind_until_locked(self, command, timeout=8.0):
        """Repeats a logind signal until the vault locks: cofferd subscribes on
        the system bus a moment after it starts, and a signal sent before
        that is lost.  Returns the number of signals it took."""
        deadline = time.monotonic() + timeout
        sent = 0
        with self.lock_signals() as sigs:
            while time.monotonic() < deadline:
                self.world.logind_command(command)
                sent += 1
                if sigs.wait_for(where=self.locked_now, timeout=0.3):
                    self.assertTrue(self.vault_locked())
                    return sent
        self.fail('%r never locked the vault:\n%s' % (command, self.world.daemon_log()))


class IdleLockTests(LockTestCase):
    lock_keys = {'lock_after_idle_seconds': '2'}
    system_bus = False

    def test_locks_after_idle_time(self):
        session = self.client.open_session()
        item = self.client.create_item(LOGIN, session, 'idle', {'test': 'idle'}, b'kept secret')
        with self.lock_signals() as sigs:
            start = time.monotonic()
            self.assertFalse(self.vault_locked())
            locked_at = self.wait_locked(sigs)
        # The timer started at the last call (create_item) or the unlock.
        self.assertGreaterEqual(locked_at - start, 1.2)
        self.assertLess(locked_at - start, 6.0)
        self.assertIn('no Secret Service use', self.world.daemon_log())
        # Keys are gone: the secret cannot be read until the vault is unlocked.
        self.assertDBusError(ERR_IS_LOCKED, self.client.get_secret, item, session)

    def test_use_postpones_the_lock(self):
        self.unlock()
        with self.lock_signals() as sigs:
            for _ in range(5):
                time.sleep(0.8)
                self.client.search({'test': 'postpone'})  # a Secret Service call
            last_use = time.monotonic()
            # Four seconds after the unlock, twice the idle time: still open.
            self.assertFalse(self.vault_locked())
            self.assertEqual(sigs.matching(), [])
            locked_at = self.wait_locked(sigs)
        self.assertGreaterEqual(locked_at - last_use, 1.2)

    def test_unlock_restarts_the_count(self):
        with self.lock_signals() as sigs:
            self.wait_locked(sigs)
        time.sleep(2.5)  # locked and idle for longer than the idle time
        with self.lock_signals() as sigs:
            self.assertEqual(self.world.unlock_vault().returncode, 0)
            start = time.monotonic()
            locked_at = self.wait_locked(sigs)
        # Counted from the unlock: not at once (as it would be from the last use).
        self.assertGreaterEqual(locked_at - start, 1.2)


class ScreenLockTests(LockTestCase):
    lock_keys = {'lock_on_screen_lock': 'true', 'lock_before_sleep': 'true'}

    def test_screensaver_active_changed(self):
        with self.lock_signals() as sigs:
            self.emit_screensaver(False)
            time.sleep(0.5)
            self.assertEqual(sigs.wait_for(where=self.locked_now, timeout=0.5), [])
            self.assertFalse(self.vault_locked())
            self.emit_screensaver(True)
            self.wait_locked(sigs)
        self.assertIn('the screen was locked', self.world.daemon_log())

    def test_gnome_screensaver_active_changed(self):
        with self.lock_signals() as sigs:
            self.emit_screensaver(True, 'org.gnome.ScreenSaver', '/org/gnome/ScreenSaver')
            self.wait_locked(sigs)

    def test_logind_session_lock(self):
        self.logind_until_locked('lock')
        self.assertIn('CALL GetSession %s' % SESSION_ID, self.world.logind_calls())
        self.assertIn('logind locked the session', self.world.daemon_log())
        # Subscribed now: another session's Lock and a wake-up do nothing,
        # and our Lock sent after them still works (signals arrive in order).
        self.unlock()
        with self.lock_signals() as sigs:
            self.world.logind_command('lock-other')
            self.world.logind_command('sleep false')
            time.sleep(0.5)
            self.assertEqual(sigs.wait_for(where=self.locked_now, timeout=0.5), [])
            self.assertFalse(self.vault_locked())
            self.world.logind_command('lock')
            self.wait_locked(sigs)

    def test_prepare_for_sleep(self):
        self.logind_until_locked('sleep true')
        self.assertIn('the system is going to sleep', self.world.daemon_log())


class SleepOnlyTests(LockTestCase):
    """lock_on_screen_lock=false: the screen saver and Session.Lock are
    ignored while PrepareForSleep still locks."""
    lock_keys = {'lock_on_screen_lock': 'false', 'lock_before_sleep': 'true'}

    def test_only_sleep_locks(self):
        self.logind_until_locked('sleep true')  # now subscribed on the system bus
        self.unlock()
        with self.lock_signals() as sigs:
            self.emit_screensaver(True)
            self.world.logind_command('lock')
            time.sleep(1.0)
            self.assertEqual(sigs.wait_for(where=self.locked_now, timeout=0.5), [])
            self.assertFalse(self.vault_locked())
            self.world.logind_command('sleep true')
            self.wait_locked(sigs)


class OffTests(LockTestCase):
    """The defaults: no trigger at all, and logind is never even asked."""

    def test_nothing_locks(self):
        with self.lock_signals() as sigs:
            self.emit_screensaver(True)
            self.emit_screensaver(True, 'org.gnome.ScreenSaver', '/org/gnome/ScreenSaver')
            self.world.logind_command('lock')
            self.world.logind_command('sleep true')
            time.sleep(2.0)
            self.assertEqual(sigs.wait_for(where=self.locked_now, timeout=0.5), [])
        self.assertFalse(self.vault_locked())
        self.assertEqual(self.world.logind_calls(), [])


class NoSystemBusTests(LockTestCase):
    """Everything on, but no system bus: logind is skipped without a word in
    the log, and the screen saver on the session bus still locks."""
    lock_keys = {'lock_on_screen_lock': 'true', 'lock_before_sleep': 'true', 'lock_after_idle': '30'}
    system_bus = False

    def test_serves_and_locks_on_screensaver(self):
        time.sleep(0.5)  # time for the system bus attempt to fail
        log = self.world.daemon_log()
        self.assertNotIn('WARNING', log)
        self.assertNotIn('CRITICAL', log)
        self.assertAlive()
        with self.lock_signals() as sigs:
            self.emit_screensaver(True)
            self.wait_locked(sigs)


class SessionEndTests(LockTestCase):
    """The session bus going away ends cofferd (which locks the vault on the
    way out), so an unlocked vault never outlives the session."""
    system_bus = False

    def test_agent_exits_with_the_session_bus(self):
        self.assertFalse(self.vault_locked())
        daemon = self.world.daemon
        _stop_process(self.world.bus_proc)
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            self.fail('cofferd outlived its session bus')
        self.world.daemon = None  # its exit status (1: bus lost) is expected here
        self.assertEqual(daemon.returncode, 1)
        self.assertIn('lost the connection to the session bus', self.world.daemon_log())


if __name__ == '__main__':
    main()
