#!/usr/bin/python3
"""Side-by-side benchmark: coffer vs gnome-keyring over the Secret Service.

Both daemons run in identical private worlds (temporary HOME and XDG tree,
own dbus-daemon, real Argon2id parameters for coffer) and are driven by the
same client code, through a dh-ietf1024-sha256-aes128-cbc-pkcs7 session as
libsecret would open one.  Measured per daemon:

  create    CreateItem rate (items/s) for the first window of items and the
            last window before the target count (label, 3 attributes of
            which one unique, a 32-byte secret)
  lookup    SearchItems(unique attribute) + GetSecrets(result): p50/p99
  ping      org.freedesktop.DBus.Peer.Ping to the daemon: p50/p99 (the
            floor one round trip through the bus costs this client)
  bulk      Service.GetSecrets of many items in one call
  rss       VmRSS of the daemon after all of the above
  cold      daemon start -> unlock -> first GetSecret answered

Usage: bench.py --cofferd PATH --coffer PATH [--json OUT] [options]
Exit status is 0 when the run completed; the aims are reported, not
enforced (they depend on the machine).
"""

import argparse
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import dbus
import dbus.bus
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BUS_NAME = 'org.freedesktop.secrets'
SS_PATH = '/org/freedesktop/secrets'
PFX = 'org.freedesktop.Secret.'
ALGO_DH = 'dh-ietf1024-sha256-aes128-cbc-pkcs7'
PASSWORD = 'bench horse battery staple'
START_TIMEOUT = 30.0
CALL_TIMEOUT = 300

# RFC 2409 section 6.2, the second Oakley group (1024-bit MODP).
DH_PRIME = int(
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1'
    '29024E088A67CC74020BBEA63B139B22514A08798E3404DD'
    'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245'
    'E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED'
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381'
    'FFFFFFFFFFFFFFFF', 16)


def now():
    return time.perf_counter()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- session
class DhSession:
    """Client half of a dh-ietf1024-sha256-aes128-cbc-pkcs7 session."""

    def __init__(self, bus):
        private = int.from_bytes(os.urandom(128), 'big') % (DH_PRIME - 3) + 2
        public = pow(2, private, DH_PRIME).to_bytes(128, 'big')
        output, path = call(bus, SS_PATH, PFX + 'Service', 'OpenSession', 'sv',
                            ALGO_DH, dbus.ByteArray(public, variant_level=1))
        y = int.from_bytes(bytes(output), 'big')
        if not 1 < y < DH_PRIME - 1:
            raise RuntimeError('server sent a bad DH public value')
        shared = pow(y, private, DH_PRIME).to_bytes(128, 'big')
        self.key = HKDF(algorithm=hashes.SHA256(), length=16, salt=None,
                        info=b'').derive(shared)
        self.path = dbus.ObjectPath(path)

    def encode(self, secret):
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        ct = enc.update(padder.update(secret) + padder.finalize()) + enc.finalize()
        return dbus.Struct((self.path, dbus.ByteArray(iv), dbus.ByteArray(ct),
                            'text/plain'), signature='oayays')

    def decode(self, struct):
        path, iv, value, _ = struct
        if path != self.path or len(iv) != 16:
            raise RuntimeError('secret for the wrong session or bad IV')
        dec = Cipher(algorithms.AES(self.key), modes.CBC(bytes(iv))).decryptor()
        data = dec.update(bytes(value)) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(data) + unpadder.finalize()


def call(bus, path, iface, method, sig='', *args):
    return bus.call_blocking(BUS_NAME, path, iface, method, sig, args,
                             timeout=CALL_TIMEOUT, byte_arrays=True)


# ------------------------------------------------------------------ world
BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_message_size">134217728</limit>
  <limit name="reply_timeout">600000</limit>
</busconfig>
'''


def stop_process(proc, timeout=10.0):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class World:
    """A private HOME + bus + one daemon (coffer or gnome-keyring).  The
    tree lives under /tmp, which is on the same disk as a real home."""

    def __init__(self, peer, args):
        self.peer = peer
        self.args = args
        self.root = tempfile.mkdtemp(prefix='coffer-bench-%s-' % peer)
        self.bus_proc = None
        self.daemon = None
        home = os.path.join(self.root, 'home')
        dirs = {'HOME': home,
                'XDG_DATA_HOME': os.path.join(home, '.local', 'share'),
                'XDG_CONFIG_HOME': os.path.join(home, '.config'),
                'XDG_CACHE_HOME': os.path.join(home, '.cache'),
                'XDG_RUNTIME_DIR': os.path.join(self.root, 'run')}
        for d in dirs.values():
            os.makedirs(d, mode=0o700, exist_ok=True)
            os.chmod(d, 0o700)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('DBUS_', 'GNOME_KEYRING', 'XDG_',
                                    'SSH_AUTH', 'COFFER_', 'MALLOC_'))}
        for k in ('DISPLAY', 'WAYLAND_DISPLAY'):
            env.pop(k, None)
        env.update(dirs)
        env['NO_AT_BRIDGE'] = '1'
        env['GSETTINGS_BACKEND'] = 'memory'
        self.env = env
        self._start_bus()

    def _start_bus(self):
        busdir = os.path.join(self.root, 'bus')
        os.mkdir(busdir, 0o700)
        cfg = os.path.join(self.root, 'bus.conf')
        with open(cfg, 'w') as f:
            f.write(BUS_CONFIG % busdir)
        rfd, wfd = os.pipe()
        try:
            self.bus_proc = subprocess.Popen(
                ['dbus-daemon', '--config-file=' + cfg, '--nofork',
                 '--print-address=%d' % wfd], pass_fds=(wfd,), env=self.env,
                stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.close(wfd)
            wfd = -1
            if not select.select([rfd], [], [], START_TIMEOUT)[0]:
                raise RuntimeError('dbus-daemon printed no address')
            address = os.read(rfd, 4096).decode().strip().splitlines()[0]
        finally:
            os.close(rfd)
            if wfd >= 0:
                os.close(wfd)
        self.address = address
        self.env['DBUS_SESSION_BUS_ADDRESS'] = address

    def connect(self):
        return dbus.bus.BusConnection(self.address)

    # The daemon ------------------------------------------------------
    def spawn(self):
        """Start the daemon; returns at once (cold-start timing starts here)."""
        logf = open(os.path.join(self.root, 'daemon.log'), 'ab')
        if self.peer == 'coffer':
            self.daemon = subprocess.Popen(
                [self.args.cofferd], env=self.env, stdin=subprocess.DEVNULL,
                stdout=logf, stderr=subprocess.STDOUT)
        else:
            self.daemon = subprocess.Popen(
                ['gnome-keyring-daemon', '--foreground',
                 '--components=secrets', '--unlock'], env=self.env,
                stdin=subprocess.PIPE, stdout=logf, stderr=subprocess.STDOUT)
            self.daemon.stdin.write(PASSWORD.encode())
            self.daemon.stdin.close()
        logf.close()

    def wait_for_name(self, bus):
        deadline = now() + START_TIMEOUT
        while not bus.name_has_owner(BUS_NAME):
            if self.daemon.poll() is not None:
                raise RuntimeError('%s exited (%s): %s' % (
                    self.peer, self.daemon.returncode, self.daemon_log()))
            if now() > deadline:
                raise RuntimeError('%s never took %s' % (self.peer, BUS_NAME))
            time.sleep(0.0005)

    def coffer(self, *argv, password=True):
        r = subprocess.run([self.args.coffer] + list(argv), env=self.env,
                           input=(PASSWORD + '\n') if password else None,
                           text=True, capture_output=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError('coffer %s: %s%s' % (' '.join(argv), r.stdout,
                                                     r.stderr))

    def wait_default_unlocked(self, bus):
        """gnome-keyring unlocks (or creates) the login keyring on its own
        after --unlock; wait until the default alias reports unlocked."""
        deadline = now() + START_TIMEOUT
        while True:
            path = call(bus, SS_PATH, PFX + 'Service', 'ReadAlias', 's', 'default')
            if path != '/':
                locked = call(bus, path, 'org.freedesktop.DBus.Properties', 'Get',
                              'ss', PFX + 'Collection', 'Locked')
                if not locked:
                    return str(path)
            if now() > deadline:
                raise RuntimeError('default collection never unlocked')
            time.sleep(0.0005)

    def stop_daemon(self, bus):
        stop_process(self.daemon)
        self.daemon = None
        deadline = now() + START_TIMEOUT
        while bus.name_has_owner(BUS_NAME) and now() < deadline:
            time.sleep(0.005)

    def rss_kib(self):
        with open('/proc/%d/status' % self.daemon.pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        return None

    def daemon_log(self):
        try:
            with open(os.path.join(self.root, 'daemon.log'), 'rb') as f:
                return f.read()[-2000:].decode(errors='replace')
        except OSError:
            return ''

    def close(self):
        stop_process(self.daemon)
        stop_process(self.bus_proc)
        if not self.args.keep:
            shutil.rmtree(self.root, ignore_errors=True)


# ----------------------------------------------------------- measurement
def pct(values, p):
    """Nearest-rank percentile of a list of seconds, in microseconds."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k] * 1e6


def item_attrs(i):
    return {'application': 'coffer-bench', 'kind': 'k%d' % (i % 7),
            'uid': 'bench-item-%07d' % i}


def secret_of(i):
    # 32 bytes, derived from the index so any read can be checked.
    return ('%032d' % i).encode()


def fill(bus, session, collection, count, window, budget):
    """Create `count` items; return (paths, timings of every CreateItem).
    Stops early (returning fewer) once `budget` seconds have passed and a
    full last window has been measured."""
    paths, times = [], []
    started = now()
    for i in range(count):
        props = dbus.Dictionary({
            PFX + 'Item.Label': dbus.String('Bench item %d' % i, variant_level=1),
            PFX + 'Item.Attributes': dbus.Dictionary(item_attrs(i), signature='ss',
                                                     variant_level=1),
        }, signature='sv')
        secret = session.encode(secret_of(i))
        t0 = now()
        item, prompt = call(bus, collection, PFX + 'Collection', 'CreateItem',
                            'a{sv}(oayays)b', props, secret, False)
        times.append(now() - t0)
        if prompt != '/':
            raise RuntimeError('CreateItem asked for a prompt')
        paths.append(str(item))
        if (i + 1) % 500 == 0:
            log('  %d items, last 100 at %.1f items/s' % (
                i + 1, 100 / sum(times[-100:])))
        if budget and now() - started > budget and (i + 1) % window == 0 \
                and i + 1 >= 2 * window:
            log('  time budget reached at %d items' % (i + 1))
            break
    return paths, times


def create_rates(times, window):
    """items/s of the first and of the last `window` CreateItem calls
    (sum of call times, i.e. back-to-back calls, no client think time)."""
    first = window / sum(times[:window])
    last = window / sum(times[-window:])
    return {'first_window': [1, window], 'first_items_per_s': first,
            'last_window': [len(times) - window + 1, len(times)],
            'last_items_per_s': last,
            'first_window_call_p50_us': pct(times[:window], 50),
            'last_window_call_p50_us': pct(times[-window:], 50),
            'items_created': len(times),
            'total_fill_s': sum(times),
            'per_500_items_per_s': [
                [n, 100 / sum(times[n - 100:n])]
                for n in range(500, len(times) + 1, 500)]}


def lookups(bus, session, count, item_count):
    """Interleave a Ping, a trivial main-loop call and a lookup, so all
    three see the same machine state.  The lookup is what libsecret's
    secret_password_lookup() does: SearchItems, then GetSecrets."""
    ping_t, floor_t, search_t, get_t, look_t = [], [], [], [], []
    step = max(1, item_count // count)
    svc = PFX + 'Service'
    for n in range(count):
        i = (n * step + n) % item_count
        t0 = now()
        bus.call_blocking(BUS_NAME, '/', 'org.freedesktop.DBus.Peer', 'Ping',
                          '', (), timeout=CALL_TIMEOUT)
        t1 = now()
        call(bus, SS_PATH, svc, 'ReadAlias', 's', 'default')
        t2 = now()
        unlocked, locked = call(bus, SS_PATH, svc, 'SearchItems', 'a{ss}',
                                dbus.Dictionary({'uid': item_attrs(i)['uid']},
                                                signature='ss'))
        t3 = now()
        secrets = call(bus, SS_PATH, svc, 'GetSecrets', 'aoo',
                       dbus.Array(unlocked, signature='o'), session.path)
        t4 = now()
        ping_t.append(t1 - t0)
        floor_t.append(t2 - t1)
        search_t.append(t3 - t2)
        get_t.append(t4 - t3)
        look_t.append(t4 - t2)
        if len(unlocked) != 1 or locked:
            raise RuntimeError('lookup %d found %d unlocked/%d locked' % (
                i, len(unlocked), len(locked)))
        (struct,) = secrets.values()
        if session.decode(struct) != secret_of(i):
            raise RuntimeError('lookup %d returned the wrong secret' % i)

    def summary(ts):
        return {'p50_us': pct(ts, 50), 'p99_us': pct(ts, 99), 'count': count}
    lookup = summary(look_t)
    lookup['search_p50_us'] = pct(search_t, 50)
    lookup['getsecrets_p50_us'] = pct(get_t, 50)
    return summary(ping_t), summary(floor_t), lookup


def bulk_get(bus, session, paths, count, repeats):
    chosen = paths[:count]
    times = []
    for _ in range(repeats):
        t0 = now()
        secrets = call(bus, SS_PATH, PFX + 'Service', 'GetSecrets', 'aoo',
                       dbus.Array(chosen, signature='o'), session.path)
        times.append(now() - t0)
    if len(secrets) != len(chosen):
        raise RuntimeError('GetSecrets returned %d of %d' % (len(secrets), len(chosen)))
    index = {p: i for i, p in enumerate(paths)}
    for p, struct in secrets.items():
        if session.decode(struct) != secret_of(index[str(p)]):
            raise RuntimeError('GetSecrets: wrong secret for %s' % p)
    return {'items': len(chosen), 'repeats': repeats,
            'median_ms': statistics.median(times) * 1e3,
            'min_ms': min(times) * 1e3}


def cold_start(world, bus, probe_index):
    """Daemon start -> unlocked -> first GetSecret answered (seconds)."""
    t0 = now()
    world.spawn()
    world.wait_for_name(bus)
    t_name = now()
    if world.peer == 'coffer':
        world.coffer('unlock', '--password-stdin')
    else:
        world.wait_default_unlocked(bus)
    t_unlocked = now()
    session = DhSession(bus)
    unlocked, _ = call(bus, SS_PATH, PFX + 'Service', 'SearchItems', 'a{ss}',
                       dbus.Dictionary({'uid': item_attrs(probe_index)['uid']},
                                       signature='ss'))
    struct = call(bus, unlocked[0], PFX + 'Item', 'GetSecret', 'o', session.path)
    t_secret = now()
    if session.decode(struct) != secret_of(probe_index):
        raise RuntimeError('cold start: wrong secret')
    return {'total_s': t_secret - t0, 'start_to_name_s': t_name - t0,
            'unlock_s': t_unlocked - t_name,
            'first_secret_s': t_secret - t_unlocked}


# coffer's default Argon2id parameters (agent/vault/keyslot.c).
COFFER_KDF_OPSLIMIT = 3
COFFER_KDF_MEMLIMIT = 256 * 1024 * 1024


def unlock_parts(world, args):
    """What coffer's unlock is made of: the Argon2id derivation alone
    (kdf-probe, same parameters, same machine) and the CLI + control-socket
    round trip (`coffer status`, no KDF)."""
    parts = {}
    if args.kdf_probe:
        r = subprocess.run([args.kdf_probe, str(COFFER_KDF_OPSLIMIT),
                            str(COFFER_KDF_MEMLIMIT)], capture_output=True,
                           text=True, check=True)
        parts['kdf_alone_s'] = float(r.stdout)
    t0 = now()
    world.coffer('status', password=False)
    parts['cli_status_roundtrip_s'] = now() - t0
    return parts


def run_peer(peer, args):
    log('== %s' % peer)
    count = args.items if peer == 'coffer' else args.gk_items
    budget = None if peer == 'coffer' else args.gk_budget
    world = World(peer, args)
    result = {'peer': peer}
    try:
        bus = world.connect()
        world.spawn()
        world.wait_for_name(bus)
        if peer == 'coffer':
            world.coffer('init', '--password-stdin')
        collection = world.wait_default_unlocked(bus)
        session = DhSession(bus)
        paths, times = fill(bus, session, collection, count, args.window, budget)
        result['create'] = create_rates(times, args.window)
        result['ping'], result['readalias'], result['lookup'] = lookups(bus, session, args.lookups,
                                                   len(paths))
        result['bulk_getsecrets'] = bulk_get(bus, session, paths, args.bulk, 5)
        result['rss_kib'] = world.rss_kib()
        log('  cold start x%d' % args.cold_runs)
        runs = []
        for _ in range(args.cold_runs):
            world.stop_daemon(bus)
            run = cold_start(world, bus, len(paths) // 2)
            if peer == 'coffer':
                # Right after each unlock, so both see the same machine load.
                run.update(unlock_parts(world, args))
            runs.append(run)
        median = sorted(runs, key=lambda r: r['total_s'])[len(runs) // 2]
        result['cold_start'] = dict(median, runs=runs, items=len(paths))
        bus.close()
    finally:
        world.close()
    return result


# ----------------------------------------------------------------- report
def ratio(a, b):
    return a / b if a and b else float('nan')


def table(res):
    c, g = res['coffer'], res['gnome-keyring']
    cc, gc = c['create'], g['create']
    rows = [
        ('CreateItem items/s, items %d-%d (coffer) / %d-%d (gk)' % (
            *cc['first_window'], *gc['first_window']),
         cc['first_items_per_s'], gc['first_items_per_s'], 'x', True),
        ('CreateItem items/s, items %d-%d (coffer) / %d-%d (gk)' % (
            *cc['last_window'], *gc['last_window']),
         cc['last_items_per_s'], gc['last_items_per_s'], 'x', True),
        ('lookup p50 us (SearchItems+GetSecrets)', c['lookup']['p50_us'],
         g['lookup']['p50_us'], 'x', False),
        ('lookup p99 us', c['lookup']['p99_us'], g['lookup']['p99_us'], 'x', False),
        ('Peer.Ping p50 us', c['ping']['p50_us'], g['ping']['p50_us'], 'x', False),
        ('Peer.Ping p99 us', c['ping']['p99_us'], g['ping']['p99_us'], 'x', False),
        ('ReadAlias p50 us (main-loop call floor)', c['readalias']['p50_us'],
         g['readalias']['p50_us'], 'x', False),
        ('  lookup part: SearchItems p50 us', c['lookup']['search_p50_us'],
         g['lookup']['search_p50_us'], 'x', False),
        ('  lookup part: GetSecrets(1 item) p50 us', c['lookup']['getsecrets_p50_us'],
         g['lookup']['getsecrets_p50_us'], 'x', False),
        ('GetSecrets of %d items, ms (median of 5)' % c['bulk_getsecrets']['items'],
         c['bulk_getsecrets']['median_ms'], g['bulk_getsecrets']['median_ms'], 'x', False),
        ('daemon VmRSS at end, MiB (%d / %d items)' % (
            cc['items_created'], gc['items_created']),
         c['rss_kib'] / 1024, g['rss_kib'] / 1024, 'x', False),
        ('cold start to first secret, ms', c['cold_start']['total_s'] * 1e3,
         g['cold_start']['total_s'] * 1e3, 'x', False),
        ('  start to bus name, ms', c['cold_start']['start_to_name_s'] * 1e3,
         g['cold_start']['start_to_name_s'] * 1e3, 'x', False),
        ('  unlock, ms', c['cold_start']['unlock_s'] * 1e3,
         g['cold_start']['unlock_s'] * 1e3, 'x', False),
        ('    of which Argon2id alone (kdf-probe), ms',
         c['cold_start'].get('kdf_alone_s', float('nan')) * 1e3, float('nan'), 'x', False),
        ('    of which coffer CLI+socket (`coffer status`), ms',
         c['cold_start']['cli_status_roundtrip_s'] * 1e3, float('nan'), 'x', False),
        ('  session+search+GetSecret, ms', c['cold_start']['first_secret_s'] * 1e3,
         g['cold_start']['first_secret_s'] * 1e3, 'x', False),
    ]
    out = ['%-62s %12s %12s %10s' % ('measure', 'coffer', 'gnome-keyring',
                                     'coffer by')]
    for name, cv, gv, _, higher_better in rows:
        # The ratio column always reads "how many times better is coffer".
        r = ratio(cv, gv) if higher_better else ratio(gv, cv)
        out.append('%-62s %12.1f %12.1f %9.2fx' % (name, cv, gv, r))
    out.append('(last column: the factor by which coffer is better; <1 = gnome-keyring wins)')
    aims = res['aims']
    out.append('')
    for k, v in aims.items():
        out.append('aim %-52s %s' % (k, 'MET' if v['met'] else 'MISSED (%s)' % v['value']))
    return '\n'.join(out)


def aims(res):
    c, g = res['coffer'], res['gnome-keyring']
    cc = c['create']
    keep = cc['last_items_per_s'] / cc['first_items_per_s']
    vs_gk = cc['last_items_per_s'] / g['create']['last_items_per_s']
    floor = 1.5 * 2 * c['ping']['p50_us']
    return {
        'coffer create rate at end within 20% of start': {
            'met': keep >= 0.8, 'value': 'last/first = %.2f' % keep},
        'coffer create rate at end >= 30x gnome-keyring at its end': {
            'met': vs_gk >= 30, 'value': '%.1fx' % vs_gk},
        'coffer lookup p50 <= 1.5 x (2 x ping p50)': {
            'met': c['lookup']['p50_us'] <= floor,
            'value': '%.0f us vs limit %.0f us' % (c['lookup']['p50_us'], floor)},
    }


def machine():
    info = {'python': platform.python_version(), 'kernel': platform.release(),
            'cpus': os.cpu_count()}
    try:
        with open('/etc/debian_version') as f:
            info['debian'] = f.read().strip()
        with open('/proc/cpuinfo') as f:
            info['cpu'] = next((l.split(':', 1)[1].strip() for l in f
                                if l.startswith('model name')), '?')
        info['loadavg_at_start'] = os.getloadavg()
        v = subprocess.run(['gnome-keyring-daemon', '--version'],
                           capture_output=True, text=True)
        info['gnome_keyring'] = v.stdout.strip().splitlines()[0]
        src = os.path.dirname(os.path.abspath(__file__))
        rev = subprocess.run(['git', '-C', src, 'describe', '--always', '--dirty'],
                             capture_output=True, text=True)
        info['coffer_revision'] = rev.stdout.strip() or '?'
    except (OSError, StopIteration):
        pass
    return info


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--cofferd', required=True)
    p.add_argument('--coffer', required=True)
    p.add_argument('--json', help='write the results here')
    p.add_argument('--kdf-probe', help='kdf-probe binary (unlock breakdown)')
    p.add_argument('--items', type=int, default=5000, help='coffer items')
    p.add_argument('--gk-items', type=int, default=5000,
                   help='gnome-keyring items (upper bound, see --gk-budget)')
    p.add_argument('--gk-budget', type=float, default=900.0,
                   help='seconds of gnome-keyring fill after which it stops '
                        'at the next full window')
    p.add_argument('--window', type=int, default=100)
    p.add_argument('--lookups', type=int, default=1000)
    p.add_argument('--bulk', type=int, default=1000)
    p.add_argument('--cold-runs', type=int, default=5)
    p.add_argument('--peers', default='coffer,gnome-keyring')
    p.add_argument('--keep', action='store_true', help='keep the worlds')
    args = p.parse_args()

    res = {'machine': machine(), 'parameters': vars(args).copy()}
    for peer in args.peers.split(','):
        res[peer] = run_peer(peer, args)
    if 'coffer' in res and 'gnome-keyring' in res:
        res['aims'] = aims(res)
        print(table(res))
    else:
        print(json.dumps(res, indent=2))
    res['machine']['loadavg_at_end'] = os.getloadavg()
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
