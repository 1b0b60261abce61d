"""Sync benchmark: what sync costs on the wire at N items (default 5,000).

Two agents share a private Apache mod_dav server; each talks to it through
its own recording proxy (tests/sync/synchelp.RecordingProxy), which counts
requests and HTTP bytes (request and response lines, headers and bodies)
per agent.  Measured:

  (a) an idle poll                  agent b, poll timer, nothing changed
  (b) one changed item pushed       agent a, from the local change to the head write
  (c) one remote change pulled      agent b, the poll that brings (b) in
  (d) a fresh join                  agent b, `coffer join` of the whole vault;
                                    timed again with agent c joining Apache
                                    directly (the Python proxy opens a new
                                    upstream connection per request and would
                                    dominate the time)

Aims (docs/performance.md, "Sync"): (a) one small conditional request;
(b) and (c) O(1) objects, under 8 KiB whatever N; (d) under 10 s.  The run
fails when an aim is missed.

    sync_bench.py [--items N] [--json FILE]
"""

import argparse
import json
import os
import sys
import time

import harness
from synchelp import Agent, RecordingProxy
from apache import ApacheDav, available as apache_available

AIM_CHANGE_BYTES = 8 * 1024
AIM_JOIN_SECONDS = 10.0


def window(proxy):
    with proxy._lock:
        entries = list(proxy.log)
        proxy.log.clear()
    return entries


def summarise(entries):
    return {'requests': len(entries),
            'sent': sum(e[3] for e in entries),
            'received': sum(e[4] for e in entries),
            'detail': ['%s %s %d' % (e[0], e[1].rsplit('/', 2)[-1] if 'records/' in e[1]
                                     else e[1].rsplit('/', 1)[-1], e[2]) for e in entries]}


def fill(agent, n):
    c = agent.client
    s = agent.session
    t0 = time.monotonic()
    for i in range(n):
        c.create_item(harness.LOGIN, s, 'item %d' % i, {'bench': 'sync', 'i': str(i)}, 'secret %d' % i)
    return time.monotonic() - t0


def quiet(proxy, seconds=0.5):
    """Nothing logged for a while: the round is over."""
    n = len(proxy.log)
    time.sleep(seconds)
    return n > 0 and len(proxy.log) == n


def wait_for(predicate, timeout, what, proxy=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    seen = summarise(list(proxy.log))['detail'] if proxy else ''
    raise RuntimeError('timed out waiting for %s %s' % (what, seen))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--items', type=int, default=int(os.environ.get('COFFER_BENCH_SYNC_ITEMS', '5000')))
    ap.add_argument('--json')
    args = ap.parse_args()
    if not apache_available():
        print('SKIP: Apache with mod_dav is not installed')
        return 77

    results = {'items': args.items}
    agents = []
    with ApacheDav() as dav, RecordingProxy(dav.port) as pa, RecordingProxy(dav.port) as pb:
        try:
            a = Agent('a', poll=3600).start()
            agents.append(a)
            results['fill_seconds'] = round(fill(a, args.items), 1)
            t0 = time.monotonic()
            a.remote_set(pa.url(), dav)
            a.sync()
            results['first_push_seconds'] = round(time.monotonic() - t0, 2)
            results['first_push'] = {k: v for k, v in summarise(window(pa)).items() if k != 'detail'}

            # (d) a fresh join
            b = Agent('b', init=False, poll=2).start()
            agents.append(b)
            window(pb)
            t0 = time.monotonic()
            b.join(pb.url(), dav)
            results['join_via_proxy_seconds'] = round(time.monotonic() - t0, 2)
            join = summarise(window(pb))
            del join['detail']
            results['join'] = join
            if len(b.client.collection_items(harness.LOGIN)) != args.items:
                raise RuntimeError('the join did not bring every item')
            c = Agent('c', init=False, poll=3600).start()
            agents.append(c)
            t0 = time.monotonic()
            c.join(dav.url, dav)
            results['join_seconds'] = round(time.monotonic() - t0, 2)
            c.stop()

            # (a) idle polls of b
            time.sleep(2.5)
            window(pb)
            time.sleep(4.5)
            idle = window(pb)
            polls = [e for e in idle if e[0] == 'GET' and e[1].endswith('/head')]
            if not polls or len(polls) != len(idle):
                raise RuntimeError('idle polling made other requests: %r' % summarise(idle)['detail'])
            results['idle_poll'] = {'requests': len(idle) / len(polls), 'sent': sum(e[3] for e in idle) // len(polls),
                                    'received': sum(e[4] for e in idle) // len(polls),
                                    'status': sorted({e[2] for e in idle})}

            # (b) one changed item pushed by a, (c) pulled by b's next poll
            target = a.client.collection_items(harness.LOGIN)[args.items // 2]
            window(pa)
            window(pb)
            a.client.set_secret(target, a.session, b'changed once')
            wait_for(lambda: a.status().get('pending changes') == '0' and quiet(pa), 10, 'the push', pa)
            results['push_one'] = summarise(window(pa))
            wait_for(lambda: b.client.get_secret(target, b.session)[0] == b'changed once', 10, 'the pull')
            pulled = [e for e in window(pb) if not (e[0] == 'GET' and e[1].endswith('/head') and e[2] == 304)]
            results['pull_one'] = summarise(pulled)
        finally:
            for ag in agents:
                ag.stop()

    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)

    failures = []
    if results['idle_poll']['requests'] != 1 or results['idle_poll']['status'] != [304]:
        failures.append('an idle poll is not one conditional request answered 304')
    for key in ('push_one', 'pull_one'):
        total = results[key]['sent'] + results[key]['received']
        if total >= AIM_CHANGE_BYTES or results[key]['requests'] > 6:
            failures.append('%s: %d requests, %d bytes' % (key, results[key]['requests'], total))
    if results['join_seconds'] >= AIM_JOIN_SECONDS:
        failures.append('join took %.1f s' % results['join_seconds'])
    for f in failures:
        print('AIM MISSED: ' + f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
