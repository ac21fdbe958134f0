#!/usr/bin/env python3
"""A tiny Ethernet hub for the lab's private link: QEMU `-netdev socket,connect=127.0.0.1:PORT`
clients (frames prefixed by a 4-byte big-endian length) get every frame the others send.
Listens on 127.0.0.1 only; nothing leaves loopback."""
import asyncio
import struct
import sys

clients = set()

async def handle(reader, writer):
    clients.add(writer)
    try:
        while True:
            hdr = await reader.readexactly(4)
            (n,) = struct.unpack("!I", hdr)
            frame = await reader.readexactly(n)
            for w in list(clients):
                if w is not writer:
                    w.write(hdr + frame)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        clients.discard(writer)
        writer.close()

async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()

if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
