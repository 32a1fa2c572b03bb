#!/usr/bin/env python3
# etcd_blackhole.py (switchover_unknown.sh) LISTEN_PORT ETCD_HOST:PORT TRIGGER_B64 SECONDS LOG: relays HTTP to etcd; once a request carrying
# request_delete_range whose key is TRIGGER_B64 passes (not a transaction that deletes another key beside it) (it is forwarded: etcd applies it), every answer but lease
# keepalives is dropped for SECONDS (the requests still reach etcd).
import re, socket, sys, threading, time
port, target, trigger, seconds, log = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), float(sys.argv[4]), sys.argv[5]
host, tport = target.rsplit(':', 1)
state = {'until': 0.0}
def note(msg):
    with open(log, 'a') as f: f.write('%.3f %s\n' % (time.time(), msg))
def pump(conn):
    up = socket.create_connection((host, int(tport)))
    cur = {'path': b'', 'buf': b''}
    def c2s():
        try:
            while True:
                d = conn.recv(65536)
                if not d: break
                cur['buf'] = (cur['buf'] + d)[-16384:]
                i = d.find(b'POST /')
                if i >= 0: cur['path'] = d[i:i+40].split(b' ')[1]
                if state['until'] == 0.0 and re.search(rb'request_delete_range"\s*:\s*\{[^}]*' + re.escape(trigger), cur['buf']):
                    state['until'] = time.time() + seconds
                    note('trigger: answers dropped for %.1f s' % seconds)
                up.sendall(d)
        except OSError: pass
        try: up.shutdown(socket.SHUT_WR)
        except OSError: pass
    threading.Thread(target=c2s, daemon=True).start()
    try:
        while True:
            d = up.recv(65536)
            if not d: break
            if time.time() < state['until'] and b'keepalive' not in cur['path']:
                note('dropped an answer to %s' % cur['path'].decode(errors='replace'))
                continue
            conn.sendall(d)
    except OSError: pass
    conn.close(); up.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port)); s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=pump, args=(c,), daemon=True).start()
