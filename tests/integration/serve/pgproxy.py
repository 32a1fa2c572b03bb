#!/usr/bin/env python3
"""pgproxy.py - a TCP relay in front of PostgreSQL that a test can stall.

    pgproxy.py LISTEN_PORT TARGET_PORT HOLD_FILE STATE_FILE

Relays every connection made to 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT.
While HOLD_FILE exists it relays nothing: a new connection is accepted (the
client's connect completes) but not passed on, and no byte is read from any
socket, so what a client sends piles up in the kernel's buffers until its
writes would block. STATE_FILE is rewritten on every turn with
"held=N queued=B pairs=P": the connections accepted and not yet passed on,
the bytes clients sent that wait unread, and the connections relayed. Lets serve_concurrency.sh show that a
connect or a statement stuck at the database stalls only its own request.
"""
import fcntl
import os
import select
import socket
import struct
import sys
import termios

listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
hold_file, state_file = sys.argv[3], sys.argv[4]

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", listen_port))
server.listen(64)
waiting = []  # accepted, not yet connected upstream
peer = {}  # socket -> the other end


def queued(sock):
    try:
        return struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def close_pair(sock):
    other = peer.pop(sock, None)
    sock.close()
    if other is not None:
        peer.pop(other, None)
        other.close()


while True:
    is_held = os.path.exists(hold_file)
    if not is_held:
        for client in waiting:
            upstream = socket.create_connection(("127.0.0.1", target_port))
            peer[client], peer[upstream] = upstream, client
        waiting = []
    clients = [s for s in peer if s.getpeername()[1] != target_port] if peer else []
    with open(state_file + ".new", "w") as state:
        state.write("held=%d queued=%d pairs=%d\n"
                    % (len(waiting), sum(queued(s) for s in clients + waiting), len(peer) // 2))
    os.replace(state_file + ".new", state_file)
    readable, _, _ = select.select([server] + ([] if is_held else list(peer)), [], [], 0.05)
    for sock in readable:
        if sock is server:
            client, _ = server.accept()
            waiting.append(client)
            continue
        if sock not in peer:
            continue
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            close_pair(sock)
            continue
        try:
            peer[sock].sendall(data)
        except OSError:
            close_pair(sock)
