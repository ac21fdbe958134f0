#!/usr/bin/env python3
"""A tiny learning Ethernet switch for the lab's private link: QEMU `-netdev socket,connect=127.0.0.1:PORT`
clients (frames prefixed by a 4-byte big-endian length). A frame to a MAC address seen before goes to
that client only; broadcast, multicast and unknown destinations go to every other client. (A plain
hub made every VM's emulated NIC take every frame: a blade-to-blade live migration kept the filer VM
busy too, on a 2-core host.) Listens on 127.0.0.1 only; nothing leaves loopback."""
import asyncio
import struct
import sys

clients = set()
where = {}  # MAC address (6 bytes) -> the writer of the client it was last seen on


async def handle(reader, writer):
    clients.add(writer)
    try:
        while True:
            hdr = await reader.readexactly(4)
            (n,) = struct.unpack("!I", hdr)
            frame = await reader.readexactly(n)
            if n >= 12:
                where[frame[6:12]] = writer
                dest = where.get(frame[0:6]) if not frame[0] & 1 else None
            else:
                dest = None
            if dest is None or dest not in clients:
                for w in list(clients):
                    if w is not writer:
                        w.write(hdr + frame)
            elif dest is not writer:
                dest.write(hdr + frame)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        clients.discard(writer)
        for mac in [m for m, w in where.items() if w is writer]:
            del where[mac]
        writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
