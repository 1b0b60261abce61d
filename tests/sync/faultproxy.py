"""A fault-injecting HTTP/1.1 reverse proxy for the sync tests (stdlib only).

It listens on 127.0.0.1, forwards every request to one upstream server (the
test's Apache) and, per request, draws a fault from a seeded RNG:

  error500   answer 500 without forwarding (the request never lands)
  reset      reset the client connection without forwarding
  delay      wait up to max_delay_s, then forward normally
  stall      wait stall_s (longer than the client's timeout), then forward:
             the request lands after the client gave up
  truncate   forward, then send the answer's headers (with the true
             Content-Length) and half the body, and close
  drop_put   forward; if it was a PUT that succeeded, reset the client
             connection instead of answering (the write landed, the client
             never hears of it)

Clients use it as their server URL (http://127.0.0.1:<port>/dav/...); an
absolute-form request target (a client configured with http_proxy) works
too.  Same seed, same sequence of fault draws.

All loops are bounded: the accept loop polls a stop flag, each connection
serves at most MAX_REQUESTS_PER_CONNECTION requests with socket timeouts,
header and body sizes are capped.
"""

import random
import socket
import struct
import threading
import time

FAULTS = ('error500', 'reset', 'delay', 'stall', 'truncate', 'drop_put')
MAX_LINE = 64 * 1024
MAX_HEADERS = 100
MAX_BODY = 80 * 1024 * 1024
MAX_REQUESTS_PER_CONNECTION = 10000
SOCKET_TIMEOUT = 30.0
HOP_BY_HOP = {'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
              'proxy-authorization', 'proxy-authenticate'}


class ProxyError(Exception):
    pass


def _read_line(reader):
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProxyError('line too long')
    return line


def _read_headers(reader):
    headers = []
    for _ in range(MAX_HEADERS + 1):
        line = _read_line(reader)
        if line in (b'\r\n', b'\n'):
            return headers
        if not line:
            raise ProxyError('eof in headers')
        name, sep, value = line.decode('latin-1').partition(':')
        if not sep:
            raise ProxyError('bad header line')
        headers.append((name.strip(), value.strip()))
    raise ProxyError('too many headers')


def _header(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _read_exact(reader, n):
    if n > MAX_BODY:
        raise ProxyError('body too large')
    data = reader.read(n)
    if len(data) != n:
        raise ProxyError('short body')
    return data


def _read_chunked(reader):
    body = bytearray()
    for _ in range(1_000_000):
        size = int(_read_line(reader).split(b';')[0].strip() or b'0', 16)
        if size == 0:
            _read_headers(reader)  # trailers
            return bytes(body)
        body += _read_exact(reader, size)
        _read_line(reader)
        if len(body) > MAX_BODY:
            raise ProxyError('body too large')
    raise ProxyError('too many chunks')


def _read_body(reader, headers, until_close):
    if (_header(headers, 'transfer-encoding') or '').lower() == 'chunked':
        return _read_chunked(reader)
    length = _header(headers, 'content-length')
    if length is not None:
        return _read_exact(reader, int(length))
    if until_close:
        data = reader.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            raise ProxyError('body too large')
        return data
    return b''


def _reset(conn):
    """Closes with an RST rather than a FIN, like a crashed middlebox."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    except OSError:
        pass
    conn.close()


def _serialise(start_line, headers, body_len=None):
    lines = [start_line]
    for k, v in headers:
        if k.lower() in HOP_BY_HOP or (body_len is not None and k.lower() == 'content-length'):
            continue
        lines.append(f'{k}: {v}')
    if body_len is not None:
        lines.append(f'Content-Length: {body_len}')
    return ('\r\n'.join(lines) + '\r\n').encode('latin-1')


class FaultProxy:
    def __init__(self, upstream_port, seed=0, rates=None, upstream_host='127.0.0.1',
                 max_delay_s=0.2, stall_s=4.0):
        self.upstream = (upstream_host, upstream_port)
        self.rng = random.Random(seed)
        self.rates = dict(rates or {})
        for name in self.rates:
            if name not in FAULTS:
                raise ValueError(f'unknown fault {name}')
        self.max_delay_s = max_delay_s
        self.stall_s = stall_s
        self.counts = {name: 0 for name in FAULTS}
        self.requests = 0
        self.forced = []  # faults to apply to the next requests, in order
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._conns = set()
        self.sock = None
        self.port = None

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name='faultproxy-accept', daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(SOCKET_TIMEOUT)
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path='/dav/'):
        return f'http://127.0.0.1:{self.port}{path}'

    def force(self, *faults):
        """Applies these faults (or None for none) to the next requests."""
        with self._lock:
            self.forced.extend(faults)

    # -- internals ---------------------------------------------------------
    def _draw(self):
        with self._lock:
            self.requests += 1
            if self.forced:
                return self.forced.pop(0)
            r = self.rng.random()
            for name in FAULTS:
                r -= self.rates.get(name, 0.0)
                if r < 0:
                    return name
            return None

    def _count(self, fault):
        with self._lock:
            self.counts[fault] += 1

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
            t = threading.Thread(target=self._serve, args=(conn,), name='faultproxy-conn', daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn):
        conn.settimeout(SOCKET_TIMEOUT)
        reader = conn.makefile('rb')
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                if self._stop.is_set() or not self._handle_one(conn, reader):
                    break
        except (OSError, ProxyError, ValueError):
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            try:
                reader.close()
                conn.close()
            except OSError:
                pass

    def _handle_one(self, conn, reader):
        """Serves one request; False when the connection is done."""
        line = _read_line(reader)
        if not line:
            return False
        method, target, version = line.decode('latin-1').rstrip('\r\n').split(' ', 2)
        headers = _read_headers(reader)
        body = _read_body(reader, headers, until_close=False)
        if '://' in target:  # absolute form: we forward to our upstream whatever the host
            target = '/' + target.split('://', 1)[1].partition('/')[2]
        keep_alive = (_header(headers, 'connection') or '').lower() != 'close'

        fault = self._draw()
        if fault == 'reset':
            self._count(fault)
            _reset(conn)
            return False
        if fault == 'error500':
            self._count(fault)
            msg = b'injected fault\n'
            conn.sendall(_serialise('HTTP/1.1 500 Internal Server Error', [('Content-Type', 'text/plain')],
                                    len(msg)) + b'\r\n' + msg)
            return keep_alive
        if fault == 'delay':
            self._count(fault)
            time.sleep(self.rng.uniform(0, self.max_delay_s))
        if fault == 'stall':
            self._count(fault)
            self._stop.wait(self.stall_s)

        try:
            status_line, rheaders, rbody = self._forward(method, target, headers, body)
        except (OSError, ProxyError, ValueError):
            msg = b'upstream failed\n'
            conn.sendall(_serialise('HTTP/1.1 502 Bad Gateway', [], len(msg)) + b'\r\n' + msg)
            return False
        status = int(status_line.split(' ')[1])

        if fault == 'drop_put' and method == 'PUT' and 200 <= status < 300:
            self._count(fault)
            _reset(conn)
            return False
        no_body = method == 'HEAD' or status in (204, 304)
        if fault == 'truncate' and len(rbody) >= 2 and not no_body:
            self._count(fault)
            conn.sendall(_serialise(status_line, rheaders, len(rbody)) + b'\r\n' + rbody[:len(rbody) // 2])
            conn.shutdown(socket.SHUT_RDWR)
            return False
        if no_body:
            head = _serialise(status_line, rheaders)
        else:
            head = _serialise(status_line, rheaders, len(rbody))
        conn.sendall(head + b'\r\n' + (b'' if no_body else rbody))
        return keep_alive

    def _forward(self, method, target, headers, body):
        up = socket.create_connection(self.upstream, timeout=SOCKET_TIMEOUT)
        try:
            fwd = [(k, v) for k, v in headers if k.lower() not in ('expect',)]
            send_len = len(body) if (body or _header(headers, 'content-length') is not None) else None
            head = _serialise(f'{method} {target} HTTP/1.1', fwd, send_len)
            up.sendall(head + b'Connection: close\r\n\r\n' + body)
            reader = up.makefile('rb')
            try:
                for _ in range(10):  # skip interim 1xx answers
                    status_line = _read_line(reader).decode('latin-1').rstrip('\r\n')
                    if not status_line:
                        raise ProxyError('upstream closed')
                    rheaders = _read_headers(reader)
                    if not status_line.split(' ')[1].startswith('1'):
                        break
                else:
                    raise ProxyError('too many interim answers')
                status = int(status_line.split(' ')[1])
                if method == 'HEAD' or status in (204, 304):
                    rbody = b''
                else:
                    rbody = _read_body(reader, rheaders, until_close=True)
                return status_line, rheaders, rbody
            finally:
                reader.close()
        finally:
            up.close()
