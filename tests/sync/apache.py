"""Test fixture: a private Apache httpd with mod_dav on 127.0.0.1.

Each ApacheDav owns one directory: a fresh document root (the WebDAV share),
its config, htpasswd file, DAV lock database, pid file and logs.  Nothing is
shared with other tests or with the system's Apache, so tests run in
parallel.

    with ApacheDav() as dav:
        dav.url          # http://127.0.0.1:<port>/dav/  (basic auth)
        dav.user, dav.password
        dav.root         # the directory behind /dav/ (inspect or tamper)

Apache refuses to serve as root, so when the suite runs as root (CI) the
worker processes run as `nobody` and the share is handed to that user; as
an ordinary user, Apache simply keeps the invoking user.

Only the modules the share needs are loaded, from /usr/lib/apache2/modules.
"""

import base64
import ctypes
import hashlib
import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import tempfile
import time

APACHE = os.environ.get('COFFER_APACHE', '/usr/sbin/apache2')
MODULES = os.environ.get('COFFER_APACHE_MODULES', '/usr/lib/apache2/modules')
NEEDED_MODULES = [
    ('mpm_prefork_module', 'mod_mpm_prefork.so'),
    ('authn_core_module', 'mod_authn_core.so'),
    ('authn_file_module', 'mod_authn_file.so'),
    ('authz_core_module', 'mod_authz_core.so'),
    ('authz_user_module', 'mod_authz_user.so'),
    ('auth_basic_module', 'mod_auth_basic.so'),
    ('dav_module', 'mod_dav.so'),
    ('dav_fs_module', 'mod_dav_fs.so'),
]
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def available():
    """True when Apache and the modules this fixture loads are installed."""
    if not os.access(APACHE, os.X_OK):
        return False
    return all(os.path.exists(os.path.join(MODULES, so)) for _, so in NEEDED_MODULES)


def free_port():
    """A loopback port nobody listens on right now (the usual small race
    with other processes is handled by retrying the start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _die_with_parent():
    """Runs in the child before exec: if the test process dies (a meson
    timeout kills it), the kernel sends Apache SIGTERM, so no server outlives
    its test."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def htpasswd_line(user, password):
    """An htpasswd entry in Apache's {SHA} format (stdlib only; a test
    credential, so the weak hash does not matter)."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return f'{user}:{{SHA}}{digest}\n'


class ApacheDav:
    def __init__(self, user='alice', password='wonderland', base=None):
        self.user = user
        self.password = password
        self.base = base
        self.dir = None
        self.proc = None
        self.port = None

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        self.cleanup()

    def start(self):
        if self.dir is None:
            self._make_tree()
        for attempt in range(5):
            self.port = free_port()
            self._write_config()
            if self._spawn():
                return
        raise RuntimeError('apache did not start; see ' + self.error_log)

    def stop(self):
        """Stops the server by its pid (the parent takes its children down)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self.proc = None
        self._wait_port_closed()

    def cleanup(self):
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- what tests use ----------------------------------------------------
    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}/dav/'

    @property
    def root(self):
        return os.path.join(self.dir, 'docroot', 'dav')

    @property
    def error_log(self):
        return os.path.join(self.dir, 'logs', 'error.log')

    def give_to_server(self, path):
        """Hands a file or directory the test created inside the share to
        the server's user (needed when running as root)."""
        if self._run_as is not None:
            uid, gid = self._run_as
            os.chown(path, uid, gid)

    def log_tail(self, n=40):
        out = []
        for name in ('error.log', 'access.log'):
            path = os.path.join(self.dir, 'logs', name)
            if os.path.exists(path):
                with open(path, errors='replace') as f:
                    out.append(f'--- {name}\n' + ''.join(f.readlines()[-n:]))
        return '\n'.join(out)

    # -- internals ---------------------------------------------------------
    def _make_tree(self):
        # /tmp rather than $TMPDIR: when running as root the workers run as
        # nobody and must be able to reach the share.
        parent = self.base or ('/tmp' if os.geteuid() == 0 else None)
        self.dir = tempfile.mkdtemp(prefix='coffer-dav-', dir=parent)
        for sub in ('docroot', 'docroot/dav', 'logs', 'run', 'lock'):
            os.mkdir(os.path.join(self.dir, sub), 0o700)
        with open(os.path.join(self.dir, 'htpasswd'), 'w') as f:
            f.write(htpasswd_line(self.user, self.password))
        self._run_as = None
        if os.geteuid() == 0:
            nobody = pwd.getpwnam('nobody')
            try:
                gid = grp.getgrnam('nogroup').gr_gid
            except KeyError:
                gid = nobody.pw_gid
            self._run_as = (nobody.pw_uid, gid)
            os.chmod(self.dir, 0o755)
            os.chmod(os.path.join(self.dir, 'docroot'), 0o755)
            os.chmod(os.path.join(self.dir, 'htpasswd'), 0o644)
            for sub in ('docroot/dav', 'lock'):
                os.chown(os.path.join(self.dir, sub), nobody.pw_uid, gid)

    def _write_config(self):
        d = self.dir
        lines = [f'ServerRoot "{d}"',
                 f'Listen 127.0.0.1:{self.port}',
                 'ServerName 127.0.0.1',
                 f'PidFile "{d}/run/httpd.pid"',
                 f'DefaultRuntimeDir "{d}/run"',
                 f'Mutex file:{d}/run default',
                 f'ErrorLog "{d}/logs/error.log"',
                 'LogLevel warn',
                 'LogFormat "%h %u \\"%r\\" %>s %b" small',
                 f'CustomLog "{d}/logs/access.log" small',
                 'StartServers 2',
                 'MinSpareServers 2',
                 'MaxSpareServers 4',
                 'MaxRequestWorkers 16',
                 'ServerLimit 16',
                 'KeepAlive On',
                 'KeepAliveTimeout 2',
                 'Timeout 20']
        for name, so in NEEDED_MODULES:
            lines.append(f'LoadModule {name} "{MODULES}/{so}"')
        if self._run_as is not None:
            lines += ['User nobody', 'Group #%d' % self._run_as[1]]
        lines += [f'DavLockDB "{d}/lock/davlock"',
                  f'DocumentRoot "{d}/docroot"',
                  '<Directory />',
                  '  Require all denied',
                  '</Directory>',
                  f'<Directory "{d}/docroot/dav">',
                  '  Dav On',
                  '  AuthType Basic',
                  '  AuthName coffer-test',
                  '  AuthBasicProvider file',
                  f'  AuthUserFile "{d}/htpasswd"',
                  '  Require valid-user',
                  '</Directory>']
        with open(os.path.join(d, 'httpd.conf'), 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def _spawn(self):
        """Starts Apache in the foreground; True once it accepts connections."""
        with open(os.path.join(self.dir, 'logs', 'stderr.log'), 'ab') as err:
            self.proc = subprocess.Popen(
                [APACHE, '-d', self.dir, '-f', os.path.join(self.dir, 'httpd.conf'), '-DFOREGROUND'],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False  # port taken in the meantime, or a config error
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        return False

    def _wait_port_closed(self):
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.05)


if __name__ == '__main__':
    # Manual use: starts a server and prints its URL until interrupted.
    with ApacheDav() as dav:
        print(dav.url, dav.user, dav.password, dav.root, flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
